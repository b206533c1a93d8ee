"""Small judgements rules share: how to describe a record, what a system path is, whether a
domain name looks machine-generated, what a permission string means."""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from typing import Any

from .commands import Command
from .query import Found

__all__ = [
    "SYSTEM_DIRS",
    "TEMP_DIRS",
    "basename",
    "command_summary",
    "domain_label",
    "entropy",
    "file_summary",
    "has_option",
    "in_dirs",
    "looks_random",
    "mode_value",
    "outcome",
]

SYSTEM_DIRS = (
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/lib/",
    "/usr/libexec/",
    "/lib/",
    "/lib64/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
)
"""Where a Debian guest's own programs live."""
TEMP_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/")


def in_dirs(path: str | None, dirs: tuple[str, ...]) -> bool:
    return path is not None and path.startswith(dirs)


def outcome(record: Any) -> str:
    """`` (failed: EACCES)`` for an attempt that failed, else nothing."""
    ok = getattr(record, "ok", None)
    if ok is False:
        return f" (failed: {getattr(record, 'error', None) or 'error'})"
    result = getattr(record, "result", None)
    if isinstance(result, str) and result != "ok":
        return f" ({result})"
    return ""


def file_summary(found: Found[Any], verb: str = "wrote") -> str:
    """One line for a file record: what happened to which path, and whether it failed."""
    item = found.item
    if hasattr(item, "dst"):
        return f"renamed {item.src} to {item.dst}{outcome(item)}"
    if hasattr(item, "target"):
        return f"created {item.kind} {item.path} -> {item.target}{outcome(item)}"
    return f"{verb} {item.path}{outcome(item)}"


def command_summary(found: Found[Command], what: str = "ran") -> str:
    command = found.item
    where = " (in a shell command line)" if command.via == "shell" else ""
    return f"{what} {command.line}{where}"


def has_option(command: Command, *options: str) -> bool:
    """Whether any argument is one of ``options`` (``--date=x`` counts as ``--date``)."""
    for arg in command.args:
        if arg in options or arg.split("=", 1)[0] in options:
            return True
    return False


def mode_value(mode: str | None) -> int | None:
    """Permission bits from their octal text (``"4755"``), ``None`` if unreadable."""
    if not mode:
        return None
    try:
        return int(mode, 8)
    except ValueError:
        return None


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# Second-level suffixes under which the registered name is the third label from the right.
_SECOND_LEVEL = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "com.br", "com.cn",
        "net.cn", "org.cn", "co.jp", "ne.jp", "or.jp", "co.kr", "co.in", "co.za", "com.mx",
        "com.tr", "com.ru", "com.ua", "co.nz", "com.sg", "com.hk", "com.tw",
    }
)  # fmt: skip
_VOWELS = frozenset("aeiouy")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")


def domain_label(name: str) -> str:
    """The label a domain was registered under: ``files`` for ``a.files.example.co.uk``."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) < 2:
        return labels[0] if labels else ""
    if len(labels) >= 3 and ".".join(labels[-2:]) in _SECOND_LEVEL:
        return labels[-3]
    return labels[-2]


def looks_random(label: str) -> bool:
    """Whether a domain label reads as machine-generated (DGA-like) rather than as words.

    Long enough (8+ characters), varied (character entropy 3 bits or more), and unlike
    language: almost no vowels, a run of five consonants, or digits and letters interleaved.
    """
    text = "".join(ch for ch in label.lower() if ch.isalnum())
    if len(text) < 8 or entropy(text) < 3.0:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    vowel_ratio = sum(ch in _VOWELS for ch in letters) / len(letters) if letters else 0.0
    switches = sum(1 for a, b in zip(text, text[1:], strict=False) if a.isdigit() != b.isdigit())
    return vowel_ratio < 0.2 or bool(_CONSONANT_RUN.search(text)) or switches >= 4


def basename(path: str | None) -> str:
    return posixpath.basename(path) if path else ""
