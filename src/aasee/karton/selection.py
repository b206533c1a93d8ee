"""Which karton tasks the AASEE karton service takes, and which of their samples it runs.

Owns the service's karton ``filters`` (the headers karton-classifier 2.x gives samples a
Linux guest can run) and the checks made on the sample itself once it is downloaded.

karton-classifier labels an ELF file by the OS/ABI libmagic prints: ``(GNU/Linux)`` becomes
``platform: linux``, but ``(SYSV)``, the OS/ABI of most Linux executables (static ones
above all), becomes ``platform: openbsd``. So ELF files are selected by ``kind: runnable,
extension: elf`` whatever their platform, and then by their own header: OS/ABI System V or
GNU/Linux, an executable or a shared object (PIE), and no note naming another system
(``OpenBSD``, ``NetBSD``, ``FreeBSD``). Which architecture runs it is the service's routing,
not decided here: a file no guest runs fails there with the reason.

Scripts come as ``kind: script`` with the extension libmagic or the file name gave
(``sh``, ``py``, ``pl``, ...; Windows scripts carry ``platform: win32`` and are never
selected).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from aasee.arch import identify

__all__ = [
    "DEFAULT_SCRIPTS",
    "DEPTH_KEY",
    "FOREIGN_NOTES",
    "LINUX_OSABI",
    "build_filters",
    "depth_of",
    "not_runnable",
]

DEFAULT_SCRIPTS = ("sh", "py", "pl")
"""Script extensions (as karton-classifier names them) the guests have interpreters for."""
LINUX_OSABI = {0: "System V", 3: "GNU/Linux"}
FOREIGN_NOTES = ("OpenBSD", "NetBSD", "FreeBSD")
DEPTH_KEY = "aasee_depth"
"""Payload key: how many analyses lie between this sample and one submitted from outside
(0 or absent: submitted; 1: dropped by an analysed sample; ...)."""
MAX_NOTE_SEGMENTS = 16


def build_filters(scripts: Iterable[str] = DEFAULT_SCRIPTS) -> list[dict[str, Any]]:
    """The karton filters: runnable Linux/ELF samples and the given script extensions."""
    base = {"type": "sample", "stage": "recognized"}
    filters: list[dict[str, Any]] = [
        {**base, "kind": "runnable", "platform": "linux"},
        {**base, "kind": "runnable", "extension": "elf"},
    ]
    for extension in dict.fromkeys(scripts):
        filters.append({**base, "kind": "script", "extension": extension})
    return filters


def depth_of(payload_value: Any) -> int:
    """The sample's depth from its payload value (absent or malformed: 0, a submission)."""
    if isinstance(payload_value, bool) or not isinstance(payload_value, int):
        return 0
    return max(payload_value, 0)


def not_runnable(headers: Mapping[str, Any], data: bytes) -> str | None:
    """Why a Linux guest cannot run ``data`` (None: it can, as far as its headers say)."""
    if not data:
        return "the sample is empty"
    if headers.get("kind") == "script":
        if data.startswith(b"\x7fELF"):
            return None  # misnamed: an ELF file named like a script runs as an ELF file
        if b"\0" in data[:4096]:
            return "the sample was classified as a script but holds binary data"
        if headers.get("platform") not in (None, "linux"):
            return f"a script for platform {headers.get('platform')!r}"
        return None
    identity = identify(data[:64])
    if identity is None:
        return "not an ELF file (no valid ELF header)"
    if identity.osabi not in LINUX_OSABI:
        return f"an ELF file for another system (OS/ABI {identity.osabi})"
    if identity.type not in ("executable", "shared object"):
        return f"an ELF {identity.type}, not a program"
    foreign = _foreign_note(data)
    if foreign:
        return f"an ELF file for {foreign} (its {foreign} note says so)"
    return None


def _foreign_note(data: bytes) -> str | None:
    """The other system an ELF note names, if any; unreadable notes name none."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import NoteSegment

    try:
        elf = ELFFile(io.BytesIO(data))
        for index, segment in enumerate(elf.iter_segments()):
            if index >= 64:
                break
            if not isinstance(segment, NoteSegment):
                continue
            for count, note in enumerate(segment.iter_notes()):
                if count >= MAX_NOTE_SEGMENTS:
                    break
                name = str(note["n_name"])
                if name in FOREIGN_NOTES:
                    return name
    except Exception:  # noqa: BLE001 - hostile input: a broken note proves nothing
        return None
    return None
