"""The ``windows`` plugin: a PE sample's run under Wine told in Windows terms.

Runs when the Wine hook left its manifest (``wine.json``): the sample was a Windows program
run by Wine in the Linux guest. It maps every traced process to the Windows program it ran
(Wine's loader carries the program in its argv and renames the process after it), every
file operation inside the prefix to its ``C:\\`` path, and diffs the prefix's registry
hives from before the run to after it: the after-run hives are taken from the host-side disk
diff when it kept them (nothing in the guest can forge those), else from the hook's copy
out of the guest, and ``registry_source`` says which. The section always carries the Wine
warning and what the evidence does not cover.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from ...images.wine_prefix import HIVES, WINE_PREFIX, guest_to_windows
from ..models import Process
from ..plugins.base import Plugin, ProcessingContext
from .model import FileOp, WindowsEvidence, WindowsFile, WindowsProcess, WindowsRegistryChange
from .registry import MAX_HIVE_BYTES, diff_hives, parse_hive

__all__ = ["WINE_WARNING", "WindowsPlugin", "windows_image"]

MANIFEST = "wine.json"
SAMPLE_COPY = "sample.bin"
MAX_FILES = 2000
WINDOWS_PROGRAMS = (".exe", ".com", ".scr", ".bat", ".cmd", ".dll", ".cpl", ".msi")
WINE_WARNING = (
    "The sample is a Windows program and ran under Wine 8 in a Linux guest, not on Windows: "
    "a sample can tell (wine_get_version, Wine's registry keys and files, Z:\\ mapping to "
    "/), and what Wine does not implement fails differently than on Windows."
)
NOT_COVERED = [
    "no Windows kernel: drivers, kernel callbacks, and kernel exploits are not exercised",
    "API calls are not traced (only Linux syscalls of Wine's processes); no loaded-DLL list",
    "registry changes come from a hive diff: values set and reverted within the run, and "
    "their order and timing, are not seen",
    "Windows services, scheduled tasks, WMI, COM servers and PowerShell are Wine's partial "
    "implementations or stubs (PowerShell, vssadmin, wbadmin and bcdedit are not installed: "
    "their start is seen, their effect is not)",
    "no .NET runtime: managed programs are not executed",
]


def windows_image(process: Process) -> tuple[str, str, str | None] | None:
    """(image name, command line, Windows path) of the Windows program a Wine process runs,
    or None when it runs none (Wine's loader or server, a Linux program)."""
    for index, word in enumerate(process.argv):
        base = word.replace("\\", "/").rsplit("/", 1)[-1]
        if base.lower().endswith(WINDOWS_PROGRAMS):
            path = word if "\\" in word or ":" in word[:3] else guest_to_windows(word)
            line = " ".join(_quoted(w) for w in process.argv[index:])
            return base, line, path
    comm = process.comm
    if comm.lower().endswith(WINDOWS_PROGRAMS):
        return comm, comm, None
    return None


def _quoted(word: str) -> str:
    return f'"{word}"' if " " in word else word


class WindowsPlugin(Plugin):
    name = "windows"
    requires = (SAMPLE_COPY,)
    after = ("behaviour", "disk")
    generates = ("windows",)
    paged = ("windows.files", "windows.registry", "windows.processes")

    def run(self, context: ProcessingContext) -> None:
        results = context.artefacts[SAMPLE_COPY].parent
        manifest_path = results / MANIFEST
        if not manifest_path.is_file() or manifest_path.is_symlink():
            return
        try:
            manifest = json.loads(manifest_path.read_text()[:1_000_000])
        except (OSError, ValueError) as exc:
            context.errors.append(f"windows: wine.json unreadable: {exc}")
            manifest = {}
        prefix = str(manifest.get("prefix") or WINE_PREFIX)
        if not prefix.startswith("/") or len(prefix) > 256:
            prefix = WINE_PREFIX
        evidence = WindowsEvidence(
            prefix=prefix,
            warning=WINE_WARNING,
            not_covered=list(NOT_COVERED),
            registry_source="none",
        )
        evidence.errors += [str(e)[:300] for e in list(manifest.get("errors") or [])[:20]]
        behaviour = context.behaviour
        if behaviour is not None:
            evidence.processes = _processes(behaviour.processes)
            evidence.files = _files(behaviour.files, prefix)
        evidence.files += _disk_files(context, prefix, len(evidence.files))
        self._registry(context, results, prefix, evidence)
        context.windows = evidence

    def _registry(
        self, context: ProcessingContext, results: Path, prefix: str, evidence: WindowsEvidence
    ) -> None:
        from_disk: dict[str, Path] = {}
        if context.filesystem is not None:
            for change in context.filesystem.changes:
                name = posixpath.basename(change.path or "")
                if (
                    change.path == f"{prefix}/{name}"
                    and name in HIVES
                    and change.stored_as
                    and "/" not in change.stored_as
                ):
                    stored = results / "disk_diff" / change.stored_as
                    if stored.is_file() and not stored.is_symlink():
                        from_disk[name] = stored
        sources: set[str] = set()
        for name, root in HIVES.items():
            before = _read(results / "wine" / "before" / name)
            if before is None:
                continue
            after_path = from_disk.get(name)
            if after_path is not None:
                sources.add("host-side disk diff")
            else:
                after_path = results / "wine" / "after" / name
                sources.add("guest copy")
            after = _read(after_path)
            if after is None:
                evidence.errors.append(f"{name}: no after-run copy")
                continue
            for found in diff_hives(parse_hive(before), parse_hive(after), root):
                if _noise(found.key, found.value):
                    continue
                evidence.registry.append(WindowsRegistryChange(hive=name, **found.__dict__))
        evidence.registry_source = " + ".join(sorted(sources)) or "none"


def _read(path: Path) -> str | None:
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as handle:
        data = handle.read(MAX_HIVE_BYTES)
    return data.decode("utf-8", "replace")


_NOISE_KEYS = (
    "\\software\\wine\\",
    "\\system\\currentcontrolset\\control\\session manager\\environment",
    "\\software\\microsoft\\windows nt\\currentversion\\perflib",
    "\\hardware\\",
    "\\dynamic data",
    "\\volatile environment",
    "\\software\\microsoft\\cryptography\\rng",
    "\\system\\currentcontrolset\\services\\tcpip\\parameters\\interfaces",
    "\\software\\microsoft\\windows\\currentversion\\explorer\\user shell folders",
    "\\system\\currentcontrolset\\control\\class\\",
    "\\system\\currentcontrolset\\control\\computername\\",
    "\\system\\currentcontrolset\\services\\tcpip\\parameters\\",
)


def _noise(key: str, value: str | None) -> bool:
    """Keys Wine itself rewrites at every session (device, clock and profile refreshes)."""
    lowered = key.lower() + "\\"
    return any(part in lowered for part in _NOISE_KEYS)


def _processes(processes: list[Process]) -> list[WindowsProcess]:
    out: list[WindowsProcess] = []
    for index, process in enumerate(processes):
        found = windows_image(process)
        if found is None:
            continue
        image, line, path = found
        out.append(
            WindowsProcess(
                key=process.key,
                pid=process.pid,
                image_name=image,
                command_line=line,
                windows_path=path,
                parent=process.parent,
                ref=f"/processes/{index}",
            )
        )
    return out


def _files(files: Any, prefix: str) -> list[WindowsFile]:
    out: list[WindowsFile] = []
    drive = f"{prefix}/drive_c/"
    lists: tuple[tuple[FileOp, Any], ...] = (
        ("written", files.written),
        ("created", files.created),
        ("deleted", files.deleted),
        ("mkdir", files.mkdir),
    )
    for op, entries in lists:
        for index, entry in enumerate(entries):
            if len(out) >= MAX_FILES:
                return out
            if not entry.path.startswith(drive):
                continue
            out.append(
                WindowsFile(
                    op=op,
                    path=guest_to_windows(entry.path, prefix) or entry.path,
                    guest_path=entry.path,
                    process=entry.process,
                    pid=entry.pid,
                    ref=f"/files/{op}/{index}",
                )
            )
    for index, entry in enumerate(files.renamed):
        if len(out) >= MAX_FILES:
            break
        if not (entry.src.startswith(drive) or entry.dst.startswith(drive)):
            continue
        out.append(
            WindowsFile(
                op="renamed",
                path=guest_to_windows(entry.src, prefix) or entry.src,
                guest_path=entry.src,
                destination=guest_to_windows(entry.dst, prefix) or entry.dst,
                process=entry.process,
                pid=entry.pid,
                ref=f"/files/renamed/{index}",
            )
        )
    return out


def _disk_files(context: ProcessingContext, prefix: str, already: int) -> list[WindowsFile]:
    """Changes of the prefix's drive C the host-side disk diff found (Wine's file writes are
    not always in the trace; nothing in the guest can forge these)."""
    out: list[WindowsFile] = []
    if context.filesystem is None:
        return out
    drive = f"{prefix}/drive_c/"
    ops: dict[str, FileOp] = {
        "created": "created",
        "modified": "written",
        "deleted": "deleted",
        "renamed": "renamed",
    }
    for index, change in enumerate(context.filesystem.changes):
        if already + len(out) >= MAX_FILES:
            break
        path = change.path or ""
        op = ops.get(change.change)
        if op is None or not path.startswith(drive) or change.type != "file":
            continue
        windows = guest_to_windows(path, prefix) or path
        before = change.before.path if change.before is not None else None
        source = guest_to_windows(before, prefix) if op == "renamed" and before else None
        out.append(
            WindowsFile(
                op=op,
                path=source or windows,
                guest_path=path,
                destination=windows if source else None,
                process="(host-side disk diff)",
                pid=0,
                ref=f"/filesystem/changes/{index}",
                sha256=change.sha256,
            )
        )
    return out
