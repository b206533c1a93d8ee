"""One host-side disk diff from start to ``disk_diff.json``: chain, views, diff, contents.

Owns the order of the steps and the document they produce (``FORMAT_VERSION``; the
processing side reads it as hostile input). :func:`disk_diff` never raises on what the guest
left on its disk or on a tool failing: every problem becomes an entry of ``errors`` and the
document is still complete and well formed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .content import ContentResult, ContentStore, icheck
from .diff import DiffLimits, Engine, Entry, symlink_target
from .ext4 import Ext4Error, Inode, Layout, attribute_letters, device_number
from .fs import Budget, OutOfTime, Side, read_layout
from .images import ImageError, Ranges, backing_chain, top_layer_ranges
from .noise import DEFAULT_RULES, NoiseRule, extra_rules, is_noise
from .tools import Sandbox, ToolError
from .views import Reader, ViewError, Views, open_views

__all__ = [
    "CONTENT_DIR",
    "FORMAT_VERSION",
    "RESULT_FILE",
    "chain_files",
    "disk_diff",
    "entries_document",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
RESULT_FILE = "disk_diff.json"
CONTENT_DIR = "disk_diff"
CHANGES = ("created", "modified", "deleted", "renamed", "metadata")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "backslashreplace")


def iso_time(value: tuple[int, int] | None) -> str | None:
    if value is None:
        return None
    seconds, nanoseconds = value
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if 0 <= nanoseconds <= 999_999_999:
        text += f".{nanoseconds:09d}"
    return text + "Z"


def _layout(reader: Reader, other: Layout | None, errors: list[str], name: str) -> Layout:
    try:
        return read_layout(reader)
    except Ext4Error as primary:
        if other is None:
            raise Ext4Error(f"the {name} holds no readable ext4 file system: {primary}") from None
        # A guest that overwrote the primary superblock (or its descriptors) left backups.
        sb = other.sb
        for group in (1, 3, 5, 7, 9, 25, 27):
            if group >= sb.group_count or not sb.has_super(group):
                continue
            try:
                layout = read_layout(reader, sb.group_first_block(group) * sb.block_size, group)
            except Ext4Error:
                continue
            errors.append(
                f"the {name}'s primary superblock or descriptors are damaged ({primary}): read "
                f"with the backup of group {group}"
            )
            return layout
        raise Ext4Error(
            f"the {name}'s file system is unreadable ({primary}) and no backup superblock "
            "works: the guest destroyed it"
        ) from None


class _Document:
    def __init__(self, overlay: Path, limits: DiffLimits, sample_path: str | None) -> None:
        self.data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "method": None,
            "overlay": str(overlay),
            "base": None,
            "chain": [],
            "virtual_size": None,
            "cluster_size": None,
            "overlay_bytes": None,
            "changed_bytes": None,
            "journal": {},
            "filesystem": None,
            "seconds": None,
            "timings": {},
            "complete": False,
            "truncated": False,
            "counts": {change: 0 for change in CHANGES},
            "ignored": 0,
            "ignored_by": {},
            "stats": {},
            "limits": asdict(limits),
            "sample_path": sample_path,
            "errors": [],
            "entries": [],
        }

        self._lap = time.monotonic()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Record the seconds since the previous lap as the time of step ``name``."""
        now = time.monotonic()
        self.timings[name] = round(now - self._lap, 3)
        self._lap = now

    @property
    def errors(self) -> list[str]:
        errors: list[str] = self.data["errors"]
        return errors


def disk_diff(
    overlay: Path,
    results_dir: Path,
    *,
    limits: DiffLimits | None = None,
    method: str = "auto",
    sample_path: str | None = None,
    ignore: Iterable[str] = (),
    tmp_root: Path | None = None,
    tool_user: tuple[int, int] | None = None,
    expected_chain: list[str] | None = None,
) -> dict[str, Any]:
    """Compare the run's overlay with its base; content files go to ``results_dir/disk_diff``.

    ``expected_chain`` is the overlay's backing chain as it was before the VM started
    (:func:`chain_files`): the overlay belongs to QEMU's user while the VM runs, and a chain
    that changed since is not followed. Returns the ``disk_diff.json`` document (not written
    here).
    """
    limits = limits or DiffLimits()
    start = time.monotonic()
    deadline = start + limits.time_limit
    document = _Document(overlay.absolute(), limits, sample_path)
    data = document.data
    rules = DEFAULT_RULES + extra_rules(ignore)
    host = Sandbox(None, None)
    try:
        chain = backing_chain(overlay, host, max(deadline - time.monotonic(), 0.1))
        if expected_chain is not None and chain.files != expected_chain:
            raise ImageError(
                "the overlay's backing chain changed while the VM ran (its header was "
                f"rewritten): {chain.files} instead of {expected_chain}; not compared"
            )
        data.update(
            base=str(chain.base),
            chain=chain.files,
            virtual_size=chain.virtual_size,
            cluster_size=chain.cluster_size,
        )
        top_ranges = top_layer_ranges(chain.overlay, host, max(deadline - time.monotonic(), 0.1))
        data["overlay_bytes"] = top_ranges.total
        document.lap("image")
        session, views = open_views(chain, method, deadline, tmp_root, tool_user)
        document.lap("views")
        try:
            data["method"] = views.method
            data["journal"] = dict(views.journal)
            document.errors.extend(views.errors)
            _compare(document, views, top_ranges, limits, deadline, results_dir, rules)
        finally:
            session.close()
            document.lap("teardown")
    except (ImageError, ViewError, ToolError, Ext4Error, OSError) as exc:
        document.errors.append(f"disk diff failed: {exc}")
    except OutOfTime:
        document.errors.append(f"disk diff stopped at its time limit of {limits.time_limit:g} s")
    except Exception as exc:  # a defect must cost the diff, not the analysis
        logger.exception("disk diff failed")
        document.errors.append(f"disk diff failed: {type(exc).__name__}: {exc}")
    data["seconds"] = round(time.monotonic() - start, 3)
    data["timings"] = document.timings
    return data


def chain_files(overlay: Path, timeout: float = 10.0) -> list[str]:
    """The files of the overlay's backing chain, overlay first (to check it later)."""
    return backing_chain(overlay, Sandbox(None, None), timeout).files


def _compare(
    document: _Document,
    views: Views,
    top_ranges: Ranges,
    limits: DiffLimits,
    deadline: float,
    results_dir: Path,
    rules: tuple[NoiseRule, ...],
) -> None:
    data = document.data
    errors = document.errors
    changed = top_ranges.union(views.replayed)
    data["changed_bytes"] = changed.total
    base_layout = _layout(views.base, None, errors, "base disk")
    top_layout = _layout(views.top, base_layout, errors, "run's disk")
    if top_layout.sb.block_size != base_layout.sb.block_size:
        raise Ext4Error("the file system was re-created with another block size: not compared")
    sb = top_layout.sb
    data["filesystem"] = {
        "block_size": sb.block_size,
        "blocks": sb.blocks_count,
        "inodes": sb.inodes_count,
        "uuid": sb.uuid.hex(),
    }
    budget = Budget(deadline, limits.max_read_bytes)
    top = Side(
        "overlay", views.top, top_layout, budget, limits.max_dir_entries, limits.max_dir_blocks
    )
    base = Side(
        "base", views.base, base_layout, budget, limits.max_dir_entries, limits.max_dir_blocks
    )

    def owners(blocks: list[int]) -> dict[int, int]:
        try:
            return icheck(views, blocks, deadline)
        except ToolError as exc:
            errors.append(f"changed data blocks not attributed: {exc}")
            return {}

    engine = Engine(
        top,
        base,
        changed,
        limits,
        full_inode_scan=views.full_inode_scan,
        raw_changed=top_ranges,
        icheck=owners,
    )
    entries = engine.run()
    document.lap("diff")
    errors.extend(engine.errors)
    data["stats"] = dict(engine.stats)
    entries_document(document.data, entries, top, base, views, limits, deadline, results_dir, rules)
    document.lap("contents")
    data["complete"] = engine.finished and not data["truncated"]


def _inode_facts(inode: Inode, side: Side) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "type": inode.type,
        "size": inode.size,
        "mode": f"{inode.perm:04o}",
        "uid": inode.uid,
        "gid": inode.gid,
        "mtime": iso_time(inode.mtime),
        "ctime": iso_time(inode.ctime),
        "links": inode.links,
        "attributes": attribute_letters(inode.flags),
        "target": None,
        "device": None,
    }
    if inode.type == "symlink":
        facts["target"] = _text(symlink_target(side, inode))
    elif inode.type in ("char", "block"):
        facts["device"] = device_number(inode.block)
    return facts


def _sort_key(entry: Entry) -> tuple[int, bytes, str]:
    return (entry.path is None, entry.path or b"", entry.change)


def entries_document(
    data: dict[str, Any],
    entries: list[Entry],
    top: Side,
    base: Side,
    views: Views,
    limits: DiffLimits,
    deadline: float,
    results_dir: Path,
    rules: tuple[NoiseRule, ...],
) -> None:
    sides = {"top": top, "base": base}
    sample = data.get("sample_path")
    rendered: list[tuple[Entry, dict[str, Any]]] = []
    for entry in sorted(entries, key=_sort_key):
        item: dict[str, Any] = {
            "path": _text(entry.path),
            "change": entry.change,
            "inode": entry.inode.number,
        }
        item.update(_inode_facts(entry.inode, sides[entry.side]))
        item["sha256"] = None
        item["content"] = None
        item["changed"] = list(entry.fields)
        item["before"] = None
        if entry.before is not None and entry.change != "deleted":
            before = {"path": _text(entry.before_path)}
            before.update(_inode_facts(entry.before, sides[entry.before_side]))
            before["sha256"] = None
            for key in ("links", "device"):
                before.pop(key)
            item["before"] = before
        item["notes"] = list(entry.notes)
        item["sample"] = bool(sample and entry.change == "created" and item["path"] == sample)
        if is_noise(item, rules):
            data["ignored"] += 1
            by = data["ignored_by"]
            by[item["path"]] = by.get(item["path"], 0) + 1
            continue
        data["counts"][entry.change] += 1
        if len(rendered) >= limits.max_entries:
            data["truncated"] = True
            continue
        rendered.append((entry, item))
    if len(data["ignored_by"]) > 200:
        data["ignored_by"] = dict(sorted(data["ignored_by"].items())[:200])
    _contents(data, rendered, views, limits, deadline, results_dir)
    data["entries"] = [item for _, item in rendered]


def _contents(
    data: dict[str, Any],
    rendered: list[tuple[Entry, dict[str, Any]]],
    views: Views,
    limits: DiffLimits,
    deadline: float,
    results_dir: Path,
) -> None:
    wanted: list[tuple[str, int, int]] = []
    for entry, _ in rendered:
        if entry.inode.type == "file":
            wanted.append((entry.side, entry.inode.number, entry.inode.size))
        before = entry.before
        if (
            before is not None
            and before.type == "file"
            and entry.change in ("modified", "metadata", "renamed")
            and (entry.content is not False or entry.change == "modified")
        ):
            wanted.append((entry.before_side, before.number, before.size))
    if not wanted:
        return
    if time.monotonic() > deadline:
        data["errors"].append("no time was left to read file contents")
        return
    store = ContentStore(views, limits, deadline, results_dir / CONTENT_DIR)
    try:
        found = store.fetch(wanted)
    except (ToolError, OSError) as exc:
        data["errors"].append(f"file contents not read: {exc}")
        return
    data["errors"].extend(store.errors)
    data["stats"]["content_stored_bytes"] = store.stored
    data["stats"]["content_hashed_bytes"] = store.hashed
    counts = data["counts"]
    for entry, item in rendered:
        was = item["change"]
        _apply(entry, item, found)
        if item["change"] != was:
            counts[was] -= 1
            counts[item["change"]] += 1


def _apply(entry: Entry, item: dict[str, Any], found: dict[tuple[str, int], ContentResult]) -> None:
    now = found.get((entry.side, entry.inode.number)) if entry.inode.type == "file" else None
    if now is not None:
        item["sha256"] = now.sha256
        item["content"] = now.stored
        if now.note:
            item["notes"].append(f"content {now.note}")
    before = entry.before
    previous = None
    if before is not None and item["before"] is not None and before.type == "file":
        previous = found.get((entry.before_side, before.number))
        if previous is not None:
            item["before"]["sha256"] = previous.sha256
    if entry.change not in ("modified", "metadata") or entry.content is not None:
        return
    # Data moved to other blocks, or a file replaced: the hashes say whether it changed.
    if now is not None and previous is not None and now.sha256 and previous.sha256:
        if now.sha256 == previous.sha256:
            item["changed"] = [f for f in item["changed"] if f != "content"]
            item["change"] = "metadata"
        elif "content" not in item["changed"]:
            item["changed"] = sorted([*item["changed"], "content"])
            item["change"] = "modified"
    elif entry.change == "modified":
        item["notes"].append("content not compared (too large to read)")
