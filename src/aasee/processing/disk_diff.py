"""Reading ``disk_diff.json`` as hostile input, and joining its changes with the trace.

The host wrote the file, but every path, name, link target and note in it came from the
guest's disk, which a root sample may have crafted; and the file itself is read again by
``aasee reprocess`` long after, from storage. So it is read bounded (size, number of changes,
string lengths), every field type-checked, every string made valid text; an entry that does
not check out is dropped and counted, never trusted in part. A stored content is only
pointed to when its name is a SHA-256 equal to the entry's hash and a regular file of that
name exists under ``disk_diff/``.

:func:`join_trace` marks each change ``traced`` when the kernel trace recorded a write,
creation, deletion, rename, link or permission change of its path, so that what nobody
traced (done outside the traced processes, or after the tracer was blinded) stands out.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import stat
from pathlib import Path
from typing import Any

from .models import DiskChange, DiskObjectBefore, Files, FileSystemDiff
from .text import clean_text

__all__ = [
    "CONTENT_DIR",
    "DISK_DIFF",
    "MAX_CHANGES",
    "DiskDiffError",
    "join_trace",
    "read_disk_diff",
    "traced_operations",
]

DISK_DIFF = "disk_diff.json"
CONTENT_DIR = "disk_diff"
SUPPORTED_VERSION = 1
MAX_BYTES = 64 << 20
MAX_CHANGES = 20_000
MAX_PATH = 8192
MAX_TEXT = 500
MAX_NOTES = 20
MAX_ERRORS = 100

_CHANGES = ("created", "modified", "deleted", "renamed", "metadata")
_TYPES = frozenset({"file", "dir", "symlink", "fifo", "socket", "char", "block", "unknown"})
_FIELDS = frozenset(
    {
        "content",
        "target",
        "type",
        "mode",
        "uid",
        "gid",
        "size",
        "mtime",
        "ctime",
        "links",
        "attributes",
        "xattrs",
        "entries",
    }
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODE = re.compile(r"^[0-7]{4}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
_DEVICE = re.compile(r"^\d{1,10}:\d{1,10}$")
_ATTRIBUTES = re.compile(r"^[A-Za-z]{0,32}$")


class DiskDiffError(ValueError):
    """The file is not a disk diff this version can read at all."""


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    text = clean_text(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _optional_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else _text(value, limit)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a non-negative integer")
    return value


def _matching(value: Any, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError("malformed value")
    return value


def _optional_matching(value: Any, pattern: re.Pattern[str]) -> str | None:
    return None if value is None else _matching(value, pattern)


def _kind(value: Any) -> str:
    if value not in _TYPES:
        raise ValueError("unknown object type")
    return str(value)


def _before(raw: Any) -> DiskObjectBefore | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TypeError("before is not an object")
    return DiskObjectBefore(
        path=_optional_text(raw.get("path"), MAX_PATH),
        type=_kind(raw.get("type")),  # type: ignore[arg-type]
        size=_count(raw.get("size")),
        mode=_matching(raw.get("mode"), _MODE),
        uid=_count(raw.get("uid")),
        gid=_count(raw.get("gid")),
        mtime=_optional_matching(raw.get("mtime"), _TIME),
        ctime=_optional_matching(raw.get("ctime"), _TIME),
        attributes=_matching(raw.get("attributes", ""), _ATTRIBUTES),
        target=_optional_text(raw.get("target"), 4096),
        sha256=_optional_matching(raw.get("sha256"), _SHA256),
    )


def _stored(raw: Any, sha256: str | None, folder: Path) -> str | None:
    if raw is None or sha256 is None or raw != sha256:
        return None
    try:
        info = (folder / sha256).lstat()
    except OSError:
        return None
    return sha256 if stat.S_ISREG(info.st_mode) else None


def _change(raw: Any, folder: Path) -> DiskChange:
    if not isinstance(raw, dict):
        raise TypeError("not an object")
    change = raw.get("change")
    if change not in _CHANGES:
        raise ValueError("unknown change")
    sha256 = _optional_matching(raw.get("sha256"), _SHA256)
    changed = raw.get("changed", [])
    notes = raw.get("notes", [])
    if not isinstance(changed, list) or not isinstance(notes, list):
        raise TypeError("changed or notes is not a list")
    stored = _stored(raw.get("content"), sha256, folder)
    kept_notes = [_text(note) for note in notes[:MAX_NOTES]]
    if raw.get("content") is not None and stored is None:
        kept_notes.append("its stored content is missing")
    return DiskChange(
        path=_optional_text(raw.get("path"), MAX_PATH),
        change=change,
        type=_kind(raw.get("type")),  # type: ignore[arg-type]
        inode=_count(raw.get("inode")),
        size=_count(raw.get("size")),
        mode=_matching(raw.get("mode"), _MODE),
        uid=_count(raw.get("uid")),
        gid=_count(raw.get("gid")),
        mtime=_optional_matching(raw.get("mtime"), _TIME),
        ctime=_optional_matching(raw.get("ctime"), _TIME),
        links=_count(raw.get("links", 0)),
        attributes=_matching(raw.get("attributes", ""), _ATTRIBUTES),
        target=_optional_text(raw.get("target"), 4096) if raw.get("type") == "symlink" else None,
        device=_optional_matching(raw.get("device"), _DEVICE),
        sha256=sha256,
        stored_as=stored,
        changed=sorted({str(name) for name in changed if name in _FIELDS}),
        before=_before(raw.get("before")),
        notes=kept_notes,
        sample=raw.get("sample") is True,
    )


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return round(value, 3) if math.isfinite(value) and value >= 0 else None


def read_disk_diff(path: Path) -> FileSystemDiff:
    """The ``filesystem`` section from ``disk_diff.json`` (its ``disk_diff/`` beside it).

    Raises :class:`DiskDiffError` when the file cannot be read as a disk diff at all;
    problems with single entries become the section's ``errors``.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DiskDiffError(f"{path.name} unreadable: {exc}") from exc
    if len(data) > MAX_BYTES:
        raise DiskDiffError(f"{path.name} is larger than {MAX_BYTES >> 20} MiB")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise DiskDiffError(f"{path.name} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DiskDiffError(f"{path.name} is not a JSON object")
    if document.get("version") != SUPPORTED_VERSION:
        raise DiskDiffError(f"{path.name} has an unknown version {document.get('version')!r}")
    errors = document.get("errors", [])
    entries = document.get("entries", [])
    if not isinstance(errors, list) or not isinstance(entries, list):
        raise DiskDiffError(f"{path.name}: errors or entries is not a list")
    kept_errors = [_text(e) for e in errors[:MAX_ERRORS] if isinstance(e, str)]
    folder = path.parent / CONTENT_DIR
    changes: list[DiskChange] = []
    invalid = 0
    for raw in entries[:MAX_CHANGES]:
        try:
            changes.append(_change(raw, folder))
        except (TypeError, ValueError):
            invalid += 1
    if invalid:
        kept_errors.append(f"{invalid} malformed entries of {path.name} were dropped")
    truncated = document.get("truncated") is True or len(entries) > MAX_CHANGES
    if len(entries) > MAX_CHANGES:
        kept_errors.append(f"{len(entries)} changes listed: only the first {MAX_CHANGES} kept")
    return FileSystemDiff(
        method=document.get("method") if document.get("method") in ("fuse", "copy") else None,
        seconds=_seconds(document.get("seconds")),
        complete=document.get("complete") is True and not invalid,
        truncated=truncated,
        overlay_bytes=_optional_count(document.get("overlay_bytes")),
        journal=_journal(document.get("journal")),
        counts=_counts(document.get("counts"), changes),
        ignored=_optional_count(document.get("ignored")) or 0,
        errors=kept_errors,
        changes=changes,
    )


def _optional_count(value: Any) -> int | None:
    try:
        return _count(value)
    except ValueError:
        return None


def _journal(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        name: _text(state, 200)
        for name, state in value.items()
        if name in ("overlay", "base") and isinstance(state, str)
    }


def _counts(value: Any, changes: list[DiskChange]) -> dict[str, int]:
    listed = {kind: sum(1 for c in changes if c.change == kind) for kind in _CHANGES}
    if not isinstance(value, dict):
        return listed
    # The document counts changes beyond those it lists; never fewer than are listed.
    return {kind: max(_optional_count(value.get(kind)) or 0, listed[kind]) for kind in _CHANGES}


def _normal(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def traced_operations(files: Files) -> dict[str, set[str]]:
    """Normalised path -> the changing operations the trace recorded on it (not failed ones)."""
    found: dict[str, set[str]] = {}

    def add(path: str | None, operation: str, ok: bool | None) -> None:
        if path and ok is not False:
            found.setdefault(_normal(path), set()).add(operation)

    for access in files.written:
        add(access.path, "write", access.ok)
    for created in files.created:
        add(created.path, "create", created.ok)
    for deleted in files.deleted:
        add(deleted.path, "delete", deleted.ok)
    for renamed in files.renamed:
        add(renamed.src, "rename", renamed.ok)
        add(renamed.dst, "rename", renamed.ok)
    for chmod in files.chmod:
        add(chmod.path, "chmod", chmod.ok)
    for mkdir in files.mkdir:
        add(mkdir.path, "mkdir", mkdir.ok)
    for link in files.links:
        add(link.path, "link", link.ok)
    return found


def join_trace(diff: FileSystemDiff, files: Files) -> None:
    """Set ``traced``/``traced_ops`` on every change and count the untraced ones."""
    operations = traced_operations(files)
    untraced = 0
    for change in diff.changes:
        seen: set[str] = set()
        for path in (change.path, change.before.path if change.before else None):
            if path is not None:
                seen |= operations.get(_normal(path), set())
        change.traced_ops = sorted(seen)
        change.traced = bool(seen)
        if not change.traced and not change.sample:
            untraced += 1
    diff.untraced = untraced
