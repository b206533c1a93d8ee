"""The comparison: which inodes and names differ between the base disk and the run's disk.

Owns the algorithm. It never walks a whole file system when it need not: the blocks the
overlay's top layer allocates (plus those the journal replays wrote) say which inode table
slots and bitmaps may differ; only those inodes are compared, field by field (access times,
checksums and ``i_version`` do not count). Directories among them are listed on both sides
and their entries compared, which gives created, deleted, renamed and replaced names; an
inode changed in place (its directory untouched) is named by a walk of the tree that stops
as soon as every such inode has a name. Data blocks that changed in files whose inode did
not (a write to the raw device) are attributed to their file with ``debugfs icheck``.
Everything is bounded by :class:`DiffLimits` and the deadline; running out of either ends the
diff early with what it found and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .ext4 import INLINE_DATA_FL, ROOT_INO, Ext4Error, Inode, Layout, gdt_blocks
from .fs import Budget, DirListing, OutOfTime, Side
from .images import Ranges
from .views import ViewError

__all__ = ["Change", "DiffLimits", "Engine", "Entry"]

IMPLIED_DIR_FIELDS = frozenset({"size", "mtime", "ctime", "links", "map"})
"""What a directory's own inode changes when entries are added or removed: the entries tell
the story, the directory is not reported for these alone."""
IMPLIED_FILE_FIELDS = frozenset({"ctime", "links"})
"""A file whose inode only changed these gained or lost a name (reported as that name)."""


@dataclass(frozen=True)
class DiffLimits:
    time_limit: float = 20.0
    max_entries: int = 20_000
    max_file_bytes: int = 1 << 20
    """Content of a regular file is stored up to this size..."""
    max_total_bytes: int = 64 << 20
    """...and up to this much in all."""
    hash_limit: int = 16 << 20
    """Regular files up to this size are read and hashed (SHA-256)..."""
    max_hash_bytes: int = 256 << 20
    """...up to this much in all."""
    max_read_bytes: int = 1 << 30
    """Metadata and block comparisons read at most this much of each disk."""
    max_changed_inodes: int = 1_000_000
    max_walk_dirs: int = 200_000
    max_dir_entries: int = 500_000
    max_dir_blocks: int = 16_384
    max_icheck_blocks: int = 1024


@dataclass
class Change:
    """One inode slot that differs between the two disks."""

    ino: int
    base: Inode | None
    top: Inode | None
    same: bool
    """Both sides hold the same object (not a freed and reused slot)."""
    fields: set[str] = field(default_factory=set)
    raw_write: bool = False
    content: bool | None = None
    """Whether its data differ (None: not known yet)."""
    reported: bool = False

    @property
    def new(self) -> bool:
        return self.top is not None and not self.same

    @property
    def gone(self) -> bool:
        return self.base is not None and not self.same


@dataclass
class Entry:
    """One reported change, before it becomes JSON."""

    change: str
    path: bytes | None
    inode: Inode
    side: str
    """Where ``inode`` (and its content and link target) lives: "top" or "base"."""
    before: Inode | None = None
    before_side: str = "base"
    before_path: bytes | None = None
    fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    content: bool | None = None


def _is_dir(inode: Inode | None) -> bool:
    return inode is not None and inode.type == "dir"


def _differing(old: Inode, new: Inode) -> set[str]:
    before, after = old.compared(), new.compared()
    return {name for name, value in after.items() if before.get(name) != value}


def metadata_blocks(layout: Layout) -> Ranges:
    """Superblocks, descriptor tables, bitmaps and inode tables, as block ranges."""
    sb = layout.sb
    gdt = len(gdt_blocks(sb))
    table = sb.inode_table_blocks()
    spans: list[tuple[int, int]] = [(0, sb.first_data_block + 1)]
    for group, desc in enumerate(layout.groups):
        if sb.has_super(group):
            first = sb.group_first_block(group)
            spans.append((first, first + 1 + gdt + sb.reserved_gdt_blocks))
        spans.append((desc.block_bitmap, desc.block_bitmap + 1))
        spans.append((desc.inode_bitmap, desc.inode_bitmap + 1))
        spans.append((desc.inode_table, desc.inode_table + table))
    return Ranges.of(spans)


class Engine:
    def __init__(
        self,
        top: Side,
        base: Side,
        changed: Ranges,
        limits: DiffLimits,
        *,
        full_inode_scan: bool = False,
        raw_changed: Ranges | None = None,
        icheck: Callable[[list[int]], dict[int, int]] | None = None,
    ) -> None:
        """``changed``: byte ranges that may differ; ``raw_changed``: those the guest wrote
        itself (the top layer), where raw device writes are looked for."""
        self.top = top
        self.base = base
        self.sb = top.sb
        self.limits = limits
        self.budget: Budget = top.budget
        self.changed = changed.in_blocks(self.sb.block_size)
        self.raw_changed = (raw_changed or changed).in_blocks(self.sb.block_size)
        self.full_inode_scan = full_inode_scan
        self.icheck = icheck
        self.errors: list[str] = []
        self.stats: dict[str, int] = {
            "inodes_compared": 0,
            "inodes_changed": 0,
            "atime_only": 0,
            "transient_inodes": 0,
            "internal_inodes": 0,
            "directories_updated": 0,
            "raw_writes": 0,
        }
        self.changes: dict[int, Change] = {}
        self.added: dict[tuple[int, bytes], int] = {}
        self.removed: dict[tuple[int, bytes], int] = {}
        self.removed_old: list[tuple[int, bytes, int]] = []
        self.added_new: list[tuple[int, bytes, int]] = []
        self.top_names: dict[int, list[tuple[int, bytes]]] = {}
        self.base_names: dict[int, list[tuple[int, bytes]]] = {}
        self.entries: list[Entry] = []
        self.finished = False

    # --- driver ---------------------------------------------------------------------------
    def run(self) -> list[Entry]:
        """Find the changes and build the entries; stops early (recorded) at a limit."""
        steps: list[tuple[str, Callable[[], None], bool]] = [
            ("comparing inodes", self._compare_inodes, True),
            ("looking for raw device writes", self._raw_writes, False),
            ("comparing directories", self._compare_directories, True),
            ("comparing file data", self._content_by_blocks, False),
            ("naming the changes", self._build_entries, True),
        ]
        for what, step, essential in steps:
            try:
                step()
            except (Ext4Error, ViewError) as exc:
                if essential:
                    self.errors.append(f"{what} stopped: {exc}")
                    if step != self._build_entries:
                        self._safe_build()
                    return self.entries
                self.errors.append(f"{what} stopped (the rest of the diff went on): {exc}")
            except OutOfTime:
                self.errors.append(
                    f"the time limit of {self.limits.time_limit:g} s was reached while {what}: "
                    "the diff is incomplete"
                )
                if step != self._build_entries:
                    self._safe_build()
                return self.entries
            except OSError as exc:
                self.errors.append(f"{what} stopped: {exc}")
                if step != self._build_entries:
                    self._safe_build()
                return self.entries
        self.finished = not self.errors
        return self.entries

    def _safe_build(self) -> None:
        # What was found so far still deserves names, in a little extra time.
        self.budget.deadline += 2.0
        try:
            self._build_entries()
        except (OutOfTime, Ext4Error, ViewError, OSError) as exc:
            self.errors.append(f"naming the changes found so far stopped: {exc or 'time'}")

    # --- inodes ---------------------------------------------------------------------------
    def _geometry_differs(self) -> bool:
        a, b = self.top.sb, self.base.sb
        return (a.inodes_per_group, a.inode_size, a.block_size, a.inodes_count) != (
            b.inodes_per_group,
            b.inode_size,
            b.block_size,
            b.inodes_count,
        )

    def _candidates(self) -> list[int]:
        top, base = self.top.layout, self.base.layout
        sb = self.sb
        ipg, isz = sb.inodes_per_group, sb.inode_size
        per_block = sb.block_size // isz
        table = sb.inode_table_blocks()
        found: set[int] = set()
        reformatted = self._geometry_differs()
        if reformatted:
            self.errors.append(
                "the file system was re-created during the run (its geometry changed): every "
                "inode in use on either side is compared"
            )
        for group in range(max(len(top.groups), len(base.groups))):
            self.budget.check()
            dt = top.groups[group] if group < len(top.groups) else None
            db = base.groups[group] if group < len(base.groups) else None
            first_ino = group * ipg + 1
            if (
                reformatted
                or dt is None
                or db is None
                or (dt.inode_table, dt.inode_bitmap, dt.inode_uninit)
                != (db.inode_table, db.inode_bitmap, db.inode_uninit)
            ):
                for ino in range(first_ino, first_ino + ipg):
                    if self._in_use(self.top, ino) or self._in_use(self.base, ino):
                        found.add(ino)
                continue
            if dt.inode_uninit:
                continue
            start = dt.inode_table
            runs = (
                [(start, start + table)]
                if self.full_inode_scan
                else list(self.changed.overlaps(start, start + table))
            )
            for first, last in runs:
                new = self.top.blocks(first, last - first)
                old = self.base.blocks(first, last - first)
                if new == old:
                    continue
                slot0 = (first - start) * per_block
                for slot in range(slot0, min((last - start) * per_block, ipg)):
                    at = (slot - slot0) * isz
                    if new[at : at + isz] != old[at : at + isz]:
                        found.add(first_ino + slot)
            bitmap = dt.inode_bitmap
            if self.full_inode_scan or self.changed.contains(bitmap):
                new_map, old_map = self.top.block(bitmap), self.base.block(bitmap)
                if new_map != old_map:
                    for byte in range(min(-(-ipg // 8), len(new_map))):
                        flipped = new_map[byte] ^ old_map[byte]
                        for bit in range(8):
                            if flipped & (1 << bit) and byte * 8 + bit < ipg:
                                found.add(first_ino + byte * 8 + bit)
        return sorted(found)

    @staticmethod
    def _in_use(side: Side, ino: int) -> bool:
        try:
            return side.in_use(ino)
        except Ext4Error:
            return False

    def _compare_inodes(self) -> None:
        first_ino = self.base.sb.first_ino
        for count, ino in enumerate(self._candidates()):
            if count % 256 == 0:
                self.budget.check()
            self.stats["inodes_compared"] += 1
            if ino < first_ino and ino != ROOT_INO:
                self.stats["internal_inodes"] += 1
                continue
            old, new = self._live(self.base, ino), self._live(self.top, ino)
            if old is None and new is None:
                raw = self.top.inode_raw(ino)
                if raw is not None and raw[:2] != b"\0\0":
                    self.stats["transient_inodes"] += 1
                continue
            if old is not None and new is not None and old.identity() == new.identity():
                fields = _differing(old, new)
                if not fields:
                    self.stats["atime_only"] += 1
                    continue
                change = Change(ino, old, new, True, fields)
            else:
                change = Change(ino, old, new, False)
            self.changes[ino] = change
            if len(self.changes) >= self.limits.max_changed_inodes:
                self.errors.append(
                    f"more than {self.limits.max_changed_inodes} inodes changed: the rest were "
                    "not compared"
                )
                break
        self.stats["inodes_changed"] = len(self.changes)

    @staticmethod
    def _live(side: Side, ino: int) -> Inode | None:
        try:
            return side.live(ino)
        except Ext4Error:
            return None

    # --- directories ----------------------------------------------------------------------
    def _compare_directories(self) -> None:
        for ino in sorted(self.changes):
            change = self.changes[ino]
            if not (_is_dir(change.base) or _is_dir(change.top)):
                continue
            self.budget.check()
            old = self.base.listing(ino) if _is_dir(change.base) else None
            new = self.top.listing(ino) if _is_dir(change.top) else None
            if change.same or old is None or new is None:
                self._diff_dir(ino, old, new, True)
            else:
                # One inode number, two directories (freed and reused): never pair their names.
                self._diff_dir(ino, old, None, False)
                self._diff_dir(ino, None, new, False)

    def _diff_dir(
        self, ino: int, old: DirListing | None, new: DirListing | None, pairable: bool
    ) -> None:
        before = old.entries if old is not None else {}
        after = new.entries if new is not None else {}
        for listing, side in ((old, self.base), (new, self.top)):
            if listing is not None and not listing.complete:
                self.errors.append(
                    f"directory {_show(side.dir_path(ino), ino)} could not be read whole on the "
                    f"{side.name} side ({listing.problem}): its entries are compared in part"
                )
        for name, (child, _) in before.items():
            if name not in (b".", b".."):
                self.base_names.setdefault(child, []).append((ino, name))
        for name, (child, _) in after.items():
            if name not in (b".", b".."):
                self.top_names.setdefault(child, []).append((ino, name))
        old_complete = old is None or old.complete
        new_complete = new is None or new.complete
        for name, (child, _) in after.items():
            if name in (b".", b".."):
                continue
            previous = before.get(name)
            if previous is None:
                if old_complete:
                    self._event(self.added, self.added_new, ino, name, child, pairable)
            elif previous[0] != child:
                self._event(self.added, self.added_new, ino, name, child, pairable)
                self._event(self.removed, self.removed_old, ino, name, previous[0], pairable)
        if not new_complete:
            return
        for name, (child, _) in before.items():
            if name not in (b".", b"..") and name not in after:
                self._event(self.removed, self.removed_old, ino, name, child, pairable)

    @staticmethod
    def _event(
        pairable_events: dict[tuple[int, bytes], int],
        other_events: list[tuple[int, bytes, int]],
        ino: int,
        name: bytes,
        child: int,
        pairable: bool,
    ) -> None:
        if pairable:
            pairable_events[(ino, name)] = child
        else:
            other_events.append((ino, name, child))

    # --- raw device writes ----------------------------------------------------------------
    def _journal_blocks(self, side: Side) -> Ranges:
        ino = side.sb.journal_inum
        if not ino:
            return Ranges()
        inode = side.inode(ino)
        if inode is None:
            return Ranges()
        runs = side.data_runs(inode, -(-inode.size // side.sb.block_size))
        return Ranges.of((start, start + length) for _, start, length, _ in runs)

    def _owned_blocks(self) -> Ranges:
        spans: list[tuple[int, int]] = []
        for change in self.changes.values():
            for side, inode in ((self.top, change.top), (self.base, change.base)):
                if inode is None or inode.type not in ("file", "dir", "symlink"):
                    continue
                self.budget.check()
                try:
                    wanted = -(-inode.size // side.sb.block_size)
                    runs = side.data_runs(inode, wanted)
                except Ext4Error:
                    continue
                spans += [(start, start + length) for _, start, length, _ in runs]
        return Ranges.of(spans)

    def _raw_writes(self) -> None:
        if self.icheck is None:
            return
        if self.sb.bigalloc or self._geometry_differs():
            self.errors.append("raw device writes were not looked for (bigalloc or re-created)")
            return
        candidates = self.raw_changed
        for layout in (self.top.layout, self.base.layout):
            candidates = candidates.minus(metadata_blocks(layout))
        for side in (self.top, self.base):
            candidates = candidates.minus(self._journal_blocks(side))
        if not candidates.spans:
            return
        owned = self._owned_blocks()
        candidates = candidates.minus(owned)
        differing: list[int] = []
        size = self.sb.block_size
        for first, last in candidates.spans:
            for start in range(first, last, 256):
                self.budget.check()
                end = min(start + 256, last)
                used = [
                    b
                    for b in range(start, end)
                    if self.base.block_in_use(b) and self.top.block_in_use(b)
                ]
                if not used:
                    continue
                now = self.top.blocks(start, end - start)
                then = self.base.blocks(start, end - start)
                for block in used:
                    at = (block - start) * size
                    if now[at : at + size] != then[at : at + size]:
                        differing.append(block)
        if not differing:
            return
        limit = self.limits.max_icheck_blocks
        if len(differing) > limit:
            self.errors.append(
                f"{len(differing)} data blocks changed in files whose inode did not: only the "
                f"first {limit} were attributed"
            )
        owners = self.icheck(differing[:limit])
        first_ino = self.base.sb.first_ino
        for ino in sorted(set(owners.values())):
            if ino in self.changes or ino < first_ino:
                continue
            old, new = self._live(self.base, ino), self._live(self.top, ino)
            if old is None or new is None or old.identity() != new.identity():
                continue
            self.changes[ino] = Change(ino, old, new, True, {"content"}, True, True)
            self.stats["raw_writes"] += 1

    # --- file data ------------------------------------------------------------------------
    def _blocks_differ(self, inode: Inode) -> bool:
        size = self.sb.block_size
        runs = self.top.data_runs(inode, -(-inode.size // size))
        for _, start, length, initialised in runs:
            if not initialised:
                continue
            for first, last in self.changed.overlaps(start, start + length):
                self.budget.check()
                if self.top.blocks(first, last - first) != self.base.blocks(first, last - first):
                    return True
        return False

    def _content_by_blocks(self) -> None:
        for ino in sorted(self.changes):
            change = self.changes[ino]
            old, new = change.base, change.top
            if not change.same or old is None or new is None or change.content is not None:
                continue
            if new.type == "symlink":
                change.content = self._target(self.base, old) != self._target(self.top, new)
            elif new.type != "file":
                continue
            elif "size" in change.fields:
                change.content = True
            elif "map" in change.fields:
                change.content = None  # moved to other blocks: the hashes will tell
            else:
                try:
                    change.content = self._blocks_differ(new)
                except Ext4Error as exc:
                    self.errors.append(f"data of inode {ino} not compared: {exc}")

    def _target(self, side: Side, inode: Inode) -> bytes | None:
        return symlink_target(side, inode)

    # --- entries --------------------------------------------------------------------------
    def _fields(self, change: Change) -> list[str]:
        names = set(change.fields) - {"map"}
        if change.content:
            names.add("target" if change.top and change.top.type == "symlink" else "content")
        return sorted(names)

    def _kind(self, change: Change) -> str | None:
        """modified, metadata, or None when the inode's change is implied by its names."""
        new = change.top
        assert new is not None
        if new.type == "dir":
            # Its entries (even rewritten in place, bypassing the inode) are reported as names.
            if change.fields <= IMPLIED_DIR_FIELDS | {"content"}:
                self.stats["directories_updated"] += 1
                return None
            return "metadata"
        if change.content or (change.content is None and change.fields & {"map", "size"}):
            return "modified"
        if change.fields <= IMPLIED_FILE_FIELDS:
            return None
        return "metadata"

    def _build_entries(self) -> None:
        self.entries = []
        top, base = self.top, self.base
        changes = self.changes
        consumed: set[tuple[int, bytes]] = set()
        moved_from: dict[int, list[tuple[int, bytes]]] = {}
        for key, ino in self.removed.items():
            change = changes.get(ino)
            if change is None or change.same:
                if self._live(top, ino) is not None:
                    moved_from.setdefault(ino, []).append(key)
        for key in sorted(self.added, key=lambda k: (k[0], k[1])):
            self.budget.check()
            directory, name = key
            child = self.added[key]
            change = changes.get(child)
            path = top.entry_path(directory, name)
            replaced = self.removed.get(key)
            if change is not None and change.new:
                assert change.top is not None
                change.reported = True
                gone = changes.get(replaced) if replaced is not None else None
                if gone is not None and gone.gone and gone.base is not None:
                    consumed.add(key)
                    gone.reported = True
                    entry = Entry("modified", path, change.top, "top", gone.base, "base", path)
                    entry.fields = _compare_objects(gone.base, change.top)
                    entry.notes.append(
                        f"replaced: a new file (inode {child}) took the place of inode {replaced}"
                    )
                    self.entries.append(entry)
                else:
                    self.entries.append(Entry("created", path, change.top, "top"))
                continue
            current = self._live(top, child)
            if current is None:
                continue  # a name of nothing (dangling entry): nothing to report on disk
            sources = [k for k in moved_from.get(child, []) if k not in consumed]
            if sources:
                source = sources[0]
                consumed.add(source)
                old_path = base.entry_path(*source)
                entry = Entry(
                    "renamed",
                    path,
                    current,
                    "top",
                    change.base if change else current,
                    "base",
                    old_path,
                )
                if change is not None:
                    change.reported = True
                    entry.fields = self._fields(change)
                    entry.content = change.content
                if replaced is not None and replaced != child:
                    entry.notes.append(f"replaced the file at this path (inode {replaced})")
                self.entries.append(entry)
            else:
                entry = Entry("created", path, current, "top")
                entry.notes.append(f"a new name (hard link) of existing inode {child}")
                self.entries.append(entry)
        for key in sorted(self.removed, key=lambda k: (k[0], k[1])):
            if key in consumed:
                continue
            self.budget.check()
            child = self.removed[key]
            change = changes.get(child)
            old = change.base if change is not None else self._live(base, child)
            if old is None:
                continue
            path = base.entry_path(*key)
            entry = Entry("deleted", path, old, "base")
            remaining = self._live(top, child)
            if change is not None and change.gone:
                change.reported = True
            elif remaining is not None and remaining.links == 0:
                entry.notes.append(
                    "deleted while still open when the VM stopped: its data remain on the disk"
                )
                entry.inode, entry.side = remaining, "top"
                entry.before = old
                if change is not None:
                    change.reported = True
            elif remaining is not None:
                entry.notes.append("one name of an inode that remains under another name")
            self.entries.append(entry)
        for directory, name, child in self.removed_old:
            old = self._live(base, child)
            change = changes.get(child)
            if old is not None and (change is None or change.gone):
                if change is not None:
                    change.reported = True
                self.entries.append(Entry("deleted", base.entry_path(directory, name), old, "base"))
        for directory, name, child in self.added_new:
            new = self._live(top, child)
            change = changes.get(child)
            if new is not None and (change is None or change.new):
                if change is not None:
                    change.reported = True
                self.entries.append(Entry("created", top.entry_path(directory, name), new, "top"))
        self._inode_entries()

    def _inode_entries(self) -> None:
        top, base = self.top, self.base
        pending_top: dict[int, tuple[Change, str | None]] = {}
        pending_base: dict[int, Change] = {}
        for ino in sorted(self.changes):
            change = self.changes[ino]
            if change.reported:
                continue
            if change.same:
                kind = self._kind(change)
                if kind is not None:
                    pending_top[ino] = (change, kind)
                continue
            if change.new:
                pending_top[ino] = (change, None)
            if change.gone:
                pending_base[ino] = change
        top_names = self._names(top, pending_top, self.top_names)
        known_base = dict(self.base_names)
        for ino in pending_base:
            # A slot freed and reused under the same name: the base's own listing of that
            # directory says so, without a walk of the base tree.
            for directory, name in top_names.get(ino, [])[:1]:
                listing = self._listing(base, directory)
                if listing is not None and listing.entries.get(name, (0, 0))[0] == ino:
                    known_base.setdefault(ino, [(directory, name)])
        base_names = self._names(base, pending_base, known_base)
        base_paths: dict[int, bytes | None] = {}
        for ino, change in pending_base.items():
            assert change.base is not None
            names = base_names.get(ino, [])
            if change.base.type == "dir":
                base_paths[ino] = base.dir_path(ino)
            else:
                base_paths[ino] = base.entry_path(*names[0]) if names else None
        ghosts: dict[int, tuple[int, bytes]] | None = None
        for ino, (change, kind) in pending_top.items():
            self.budget.check()
            new = change.top
            assert new is not None
            names = top_names.get(ino, [])
            if new.type == "dir":
                path = top.dir_path(ino)
            else:
                path = top.entry_path(*names[0]) if names else None
            if kind is not None:
                entry = Entry(kind, path, new, "top", change.base, "base", path)
                entry.fields = self._fields(change)
                entry.content = change.content
                if change.raw_write:
                    entry.notes.append(
                        "its data changed while its inode did not: written to the raw device, "
                        "bypassing the file system"
                    )
            elif path is not None and change.base is not None and base_paths.get(ino) == path:
                # Deleted and created again under the same name, in the same inode slot.
                del pending_base[ino]
                entry = Entry("modified", path, new, "top", change.base, "base", path)
                entry.fields = _compare_objects(change.base, new)
                entry.notes.append(f"replaced: deleted and created again (inode {ino} reused)")
            else:
                entry = Entry("created", path, new, "top")
            if path is None:
                if ghosts is None:
                    ghosts = top.ghost_names(self._changed_dirs())
                ghost = ghosts.get(ino)
                if ghost is not None:
                    entry.path = top.entry_path(*ghost)
                    entry.notes.append("its name was recovered from a deleted directory entry")
                if new.links == 0:
                    entry.notes.append(
                        "unlinked but still open when the VM stopped (an orphan): its data "
                        "remain on the disk"
                    )
                elif ghost is None:
                    entry.notes.append("no name was found for it")
            elif len(names) > 1:
                entry.notes.append(f"{len(names)} names (hard links)")
            self.entries.append(entry)
        for ino, change in pending_base.items():
            old = change.base
            assert old is not None
            path = base_paths.get(ino)
            if path is None and old.links == 0:
                continue  # an orphan of the base (open but deleted when it was saved), freed
            entry = Entry("deleted", path, old, "base")
            entry.notes.append(
                "freed while a directory entry still names it"
                if path is not None
                else "no name was found for it"
            )
            self.entries.append(entry)

    @staticmethod
    def _listing(side: Side, ino: int) -> DirListing | None:
        try:
            return side.listing(ino)
        except Ext4Error:
            return None

    def _changed_dirs(self) -> list[int]:
        return [ino for ino, change in sorted(self.changes.items()) if _is_dir(change.top)]

    def _names(
        self,
        side: Side,
        pending: dict[int, tuple[Change, str | None]] | dict[int, Change],
        known: dict[int, list[tuple[int, bytes]]],
    ) -> dict[int, list[tuple[int, bytes]]]:
        names = {ino: known[ino] for ino in pending if ino in known}
        missing = set()
        for ino, value in pending.items():
            change = value[0] if isinstance(value, tuple) else value
            inode = change.top if side is self.top else change.base
            if ino not in names and inode is not None and inode.type != "dir" and inode.links:
                missing.add(ino)
        if missing:
            found, complete = side.find_names(missing, self.limits.max_walk_dirs)
            names.update(found)
            if not complete:
                self.errors.append(
                    f"the walk of the {side.name} tree stopped after "
                    f"{self.limits.max_walk_dirs} directories: some changes have no path"
                )
        return names


def _compare_objects(old: Inode, new: Inode) -> list[str]:
    before, after = old.compared(), new.compared()
    keys = ("type", "mode", "uid", "gid", "size", "attributes", "mtime")
    return sorted({name for name in keys if before[name] != after[name]} | {"content"})


def symlink_target(side: Side, inode: Inode) -> bytes | None:
    """The target of a symbolic link, at most 4096 bytes, never followed."""
    size = min(inode.size, 4096)
    if inode.type != "symlink":
        return None
    ea_blocks = side.sb.block_size // 512 if inode.file_acl else 0
    if inode.flags & INLINE_DATA_FL or inode.blocks - ea_blocks == 0:
        return inode.block[: min(size, 60)]
    try:
        runs = side.data_runs(inode, 1)
        if not runs or not runs[0][3]:
            return b""
        return side.block(runs[0][1])[:size]
    except Ext4Error:
        return None


def _show(path: bytes | None, ino: int) -> str:
    if path is None:
        return f"<inode {ino}>"
    return path.decode("utf-8", "backslashreplace")
