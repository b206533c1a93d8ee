"""Wine's registry hive files (``system.reg``, ``user.reg``, ``userdef.reg``) read and diffed.

A hive file is text (``WINE REGISTRY Version 2``): a ``[Key\\\\Path] stamp`` line opens a key,
``"name"=value`` or ``@=value`` lines are its values (``"string"``, ``dword:0000002a``,
``hex:..``, ``hex(2):..`` for expandable strings, ``str(2):"..."``), ``#`` lines are
metadata (``#time=``, ``#class=``), a trailing ``\\`` continues a line. The files came from a
guest a sample ran in: they are read bounded (size, keys, values, line length) and any line
that does not parse is skipped, never trusted in part.

:func:`diff_hives` compares a hive before and after the run: keys added and deleted, values
set (added or changed, with old and new data) and deleted, under the hive's root key
(``HKEY_LOCAL_MACHINE`` for ``system.reg``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MAX_HIVE_BYTES", "Hive", "RegistryChange", "diff_hives", "parse_hive"]

MAX_HIVE_BYTES = 32 << 20
MAX_KEYS = 200_000
MAX_VALUE_TEXT = 2000
MAX_CHANGES = 5000

_KEY = re.compile(r"^\[(?P<path>(?:[^\]\\]|\\.)*)\](?:\s+\d+)?\s*$")
_VALUE = re.compile(r'^(?:"(?P<name>(?:[^"\\]|\\.)*)"|(?P<default>@))=(?P<data>.*)$')


def _unescape(text: str) -> str:
    """Wine's C-like escapes in key and value names and strings (``\\\\``, ``\\"``, ``\\n``,
    ``\\xNNNN``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x":
            match = re.match(r"[0-9a-fA-F]{1,4}", text[i + 2 :])
            if match:
                out.append(chr(int(match.group(0), 16)))
                i += 2 + len(match.group(0))
                continue
        out.append({"n": "\n", "r": "\r", "t": "\t", "0": "\0"}.get(nxt, nxt))
        i += 2
    return "".join(out)


def _hex_bytes(text: str) -> bytes:
    cleaned = text.replace(",", "").replace(" ", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        return b""


def _decode(data: str) -> tuple[str, str]:
    """(type, readable data) of one value's right-hand side."""
    if data.startswith('"') and data.endswith('"') and len(data) >= 2:
        return "REG_SZ", _unescape(data[1:-1])
    if data.startswith('str(2):"') and data.endswith('"'):
        return "REG_EXPAND_SZ", _unescape(data[8:-1])
    if data.startswith('str(7):"') and data.endswith('"'):
        return "REG_MULTI_SZ", _unescape(data[8:-1]).replace("\0", "\n").strip("\n")
    if data.startswith("dword:"):
        try:
            return "REG_DWORD", str(int(data[6:], 16))
        except ValueError:
            return "REG_DWORD", data[6:]
    if data.startswith("hex(2):") or data.startswith("hex(7):"):
        raw = _hex_bytes(data[7:])
        text = raw.decode("utf-16-le", "replace").rstrip("\0")
        kind = "REG_EXPAND_SZ" if data[4] == "2" else "REG_MULTI_SZ"
        return kind, text.replace("\0", "\n")
    if data.startswith("hex(b):"):
        raw = _hex_bytes(data[7:])
        return "REG_QWORD", str(int.from_bytes(raw[:8], "little")) if raw else ""
    if data.startswith("hex:"):
        return "REG_BINARY", data[4:].replace(",", " ")
    match = re.match(r"hex\((\w+)\):(.*)", data)
    if match:
        return f"REG_TYPE_{match.group(1)}", match.group(2).replace(",", " ")
    return "REG_UNKNOWN", data


@dataclass
class Hive:
    """The keys of one hive file: key path (as written, lower-cased for lookups) -> values."""

    keys: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    """Lower-cased key path -> the path as written."""
    skipped: int = 0


def _lines(text: str) -> list[str]:
    """Logical lines: a line ending in an unescaped backslash continues on the next one."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + (raw.lstrip() if pending else raw)
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        pending = ""
        out.append(line)
    if pending:
        out.append(pending)
    return out


def parse_hive(text: str) -> Hive:
    """The keys and values of one Wine hive file (bounded; bad lines are counted, skipped)."""
    hive = Hive()
    current: dict[str, tuple[str, str]] | None = None
    for line in _lines(text[:MAX_HIVE_BYTES]):
        if not line or line.startswith(("#", ";", "WINE REGISTRY")):
            continue
        if line.startswith("["):
            match = _KEY.match(line)
            if match is None or len(hive.keys) >= MAX_KEYS:
                hive.skipped += 1
                current = None
                continue
            path = _unescape(match.group("path"))
            lowered = path.lower()
            hive.names.setdefault(lowered, path)
            current = hive.keys.setdefault(lowered, {})
            continue
        value = _VALUE.match(line)
        if value is None or current is None:
            hive.skipped += 1
            continue
        name = "" if value.group("default") else _unescape(value.group("name") or "")
        kind, data = _decode(value.group("data").strip())
        current[name] = (kind, data[:MAX_VALUE_TEXT])
    return hive


@dataclass(frozen=True)
class RegistryChange:
    """One change between two versions of a hive."""

    action: str
    """``key_created``, ``key_deleted``, ``value_set`` or ``value_deleted``."""
    key: str
    """The full key path from its root (``HKEY_CURRENT_USER\\Software\\...``)."""
    value: str | None = None
    """The value's name (``""`` is the key's default value); None for key changes."""
    type: str | None = None
    data: str | None = None
    old_type: str | None = None
    old_data: str | None = None


def diff_hives(before: Hive, after: Hive, root: str) -> list[RegistryChange]:
    """Keys and values that differ from ``before`` to ``after``, rooted at ``root``."""
    changes: list[RegistryChange] = []

    def full(lowered: str, hive: Hive) -> str:
        return f"{root}\\{hive.names.get(lowered, lowered)}"

    for lowered, values in after.keys.items():
        if len(changes) >= MAX_CHANGES:
            break
        old = before.keys.get(lowered)
        path = full(lowered, after)
        if old is None:
            changes.append(RegistryChange("key_created", path))
            old = {}
        for name, (kind, data) in values.items():
            previous = old.get(name)
            if previous == (kind, data):
                continue
            changes.append(
                RegistryChange(
                    "value_set",
                    path,
                    name,
                    kind,
                    data,
                    previous[0] if previous else None,
                    previous[1] if previous else None,
                )
            )
        for name, (kind, data) in old.items():
            if name not in values:
                changes.append(RegistryChange("value_deleted", path, name, None, None, kind, data))
    for lowered in before.keys:
        if lowered not in after.keys and len(changes) < MAX_CHANGES:
            changes.append(RegistryChange("key_deleted", full(lowered, before)))
    return changes[:MAX_CHANGES]
