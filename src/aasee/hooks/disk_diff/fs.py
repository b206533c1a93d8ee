"""One side of the comparison: a raw view read as an ext4 file system, with bounded caches.

Owns reading blocks, inodes, bitmaps and directories of one view through its
:class:`~aasee.hooks.disk_diff.views.Reader`, and turning a directory inode into a path by
walking ``..`` upwards. Every read is counted against a shared budget and checked against
the deadline; nothing follows a symbolic link or opens a guest file: names are bytes from
directory blocks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .ext4 import (
    INLINE_DATA_FL,
    ROOT_INO,
    Ext4Error,
    Inode,
    Layout,
    block_map,
    dir_entries,
    ghost_entries,
    inline_dir_entries,
    parse_group_descs,
    parse_inode,
    parse_superblock,
)
from .views import Reader

__all__ = ["Budget", "DirListing", "OutOfTime", "Side", "read_layout"]

FT_DIR = 2
MAX_PATH_DEPTH = 2048
CACHE_BLOCKS = 8192
PREFETCH_BYTES = 1 << 20
MAX_GHOST_BLOCKS = 256
WALK_BATCH = 256


class OutOfTime(Exception):
    """The diff's time limit was reached."""


@dataclass
class Budget:
    deadline: float
    read_limit: int
    read: int = 0

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime()

    def spend(self, length: int) -> None:
        self.read += length
        if self.read > self.read_limit:
            raise Ext4Error(f"the diff read more than {self.read_limit >> 20} MiB of the disk")


@dataclass
class DirListing:
    entries: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    """name -> (inode, file type code), '.' and '..' included."""
    parent: int | None = None
    complete: bool = True
    problem: str | None = None
    blocks: list[int] = field(default_factory=list)
    """The directory blocks read (for :meth:`Side.ghost_names`)."""


def read_layout(reader: Reader, offset: int = 1024, group: int = 0) -> Layout:
    """The geometry of the file system in ``reader``: the primary superblock and descriptor
    table, or (``offset``, ``group``) the backups of another group."""
    sb = parse_superblock(reader.read(offset, 1024), reader.size)

    def read_block(block: int) -> bytes:
        data = reader.read(block * sb.block_size, sb.block_size)
        if len(data) != sb.block_size:
            raise Ext4Error(f"block {block} cut short")
        return data

    return Layout(sb, parse_group_descs(sb, read_block, group))


class Side:
    def __init__(
        self,
        name: str,
        reader: Reader,
        layout: Layout,
        budget: Budget,
        max_dir_entries: int,
        max_dir_blocks: int,
    ) -> None:
        self.name = name
        self.reader = reader
        self.layout = layout
        self.sb = layout.sb
        self.budget = budget
        self.max_dir_entries = max_dir_entries
        self.max_dir_blocks = max_dir_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._inodes: dict[int, Inode | None] = {}
        self._listings: dict[int, DirListing | None] = {}
        self._paths: dict[int, bytes | None] = {}
        self._names: dict[int, dict[int, bytes]] = {}

    # --- blocks ---------------------------------------------------------------------------
    def _read(self, offset: int, length: int) -> bytes:
        self.budget.check()
        self.budget.spend(length)
        data = self.reader.read(offset, length)
        if len(data) != length:
            raise Ext4Error(f"read of {length} bytes at {offset} cut short")
        return data

    def _keep(self, block: int, data: bytes) -> None:
        self._blocks[block] = data
        self._blocks.move_to_end(block)
        while len(self._blocks) > CACHE_BLOCKS:
            self._blocks.popitem(last=False)

    def block(self, block: int) -> bytes:
        cached = self._blocks.get(block)
        if cached is not None:
            self._blocks.move_to_end(block)
            return cached
        if not 0 <= block < self.sb.blocks_count:
            raise Ext4Error(f"block {block} lies outside the file system")
        data = self._read(block * self.sb.block_size, self.sb.block_size)
        self._keep(block, data)
        return data

    def blocks(self, first: int, count: int) -> bytes:
        """``count`` consecutive blocks, read at once (and cached)."""
        if count <= 0:
            return b""
        if first < 0 or first + count > self.sb.blocks_count:
            raise Ext4Error(f"blocks {first}+{count} lie outside the file system")
        size = self.sb.block_size
        if all(first + i in self._blocks for i in range(count)):
            return b"".join(self.block(first + i) for i in range(count))
        parts = []
        step = max(PREFETCH_BYTES // size, 1)
        for start in range(first, first + count, step):
            n = min(step, first + count - start)
            data = self._read(start * size, n * size)
            for i in range(n):
                self._keep(start + i, data[i * size : (i + 1) * size])
            parts.append(data)
        return b"".join(parts)

    # --- inodes ---------------------------------------------------------------------------
    def inode_raw(self, ino: int) -> bytes | None:
        place = self.layout.inode_location(ino)
        if place is None:
            return None
        offset, _ = place
        size = self.sb.block_size
        block, within = divmod(offset, size)
        data = self.block(block)
        return data[within : within + self.sb.inode_size]

    def inode(self, ino: int, keep: bool = True) -> Inode | None:
        if ino in self._inodes:
            return self._inodes[ino]
        raw = self.inode_raw(ino)
        value = parse_inode(ino, raw, self.sb.inode_size) if raw is not None else None
        if keep:
            self._inodes[ino] = value
        return value

    def in_use(self, ino: int) -> bool:
        if not 0 < ino <= self.sb.inodes_count:
            return False
        group, index = divmod(ino - 1, self.sb.inodes_per_group)
        desc = self.layout.groups[group]
        if desc.inode_uninit:
            return False
        bitmap = self.block(desc.inode_bitmap)
        return bool(bitmap[index >> 3] & (1 << (index & 7)))

    def block_in_use(self, block: int) -> bool:
        if not self.sb.first_data_block <= block < self.sb.blocks_count:
            return False
        group = self.layout.group_of_block(block)
        desc = self.layout.groups[group]
        if desc.block_uninit:
            return False
        index = block - self.sb.group_first_block(group)
        bitmap = self.block(desc.block_bitmap)
        return bool(bitmap[index >> 3] & (1 << (index & 7)))

    def live(self, ino: int, keep: bool = True) -> Inode | None:
        """The inode if it is allocated here, else None."""
        if not self.in_use(ino):
            return None
        inode = self.inode(ino, keep)
        if inode is None or inode.mode == 0:
            return None
        return inode

    def data_runs(self, inode: Inode, max_blocks: int) -> list[tuple[int, int, int, bool]]:
        return block_map(self.sb, inode, self.block, max_blocks)

    # --- directories ----------------------------------------------------------------------
    def listing(self, ino: int, keep: bool = True) -> DirListing | None:
        """The entries of directory ``ino`` here, or None if it is not a directory here.

        ``keep=False`` (a walk of the whole tree) leaves the listing out of the cache, so that
        the walk's memory stays that of one directory at a time.
        """
        if ino in self._listings:
            return self._listings[ino]
        inode = self.live(ino, keep)
        if inode is None or inode.type != "dir":
            if keep:
                self._listings[ino] = None
            return None
        listing = DirListing()
        try:
            self._fill(inode, listing)
        except Ext4Error as exc:
            listing.complete = False
            listing.problem = str(exc)
        dotdot = listing.entries.get(b"..")
        if listing.parent is None and dotdot is not None:
            listing.parent = dotdot[0]
        if keep:
            self._listings[ino] = listing
        return listing

    def _add(self, listing: DirListing, ino: int, code: int, name: bytes) -> bool:
        if len(listing.entries) >= self.max_dir_entries:
            listing.complete = False
            listing.problem = f"more than {self.max_dir_entries} entries"
            return False
        listing.entries.setdefault(name, (ino, code))
        return True

    def _fill(self, inode: Inode, listing: DirListing) -> None:
        filetype = self.sb.has_filetype
        if inode.flags & INLINE_DATA_FL:
            parent, entries = inline_dir_entries(inode, filetype)
            listing.parent = parent
            listing.entries[b".."] = (parent, FT_DIR)
            for ino, code, name in entries:
                self._add(listing, ino, code, name)
            if inode.size > 60:
                listing.complete = False
                listing.problem = "inline directory continued in an extended attribute"
            return
        size = self.sb.block_size
        wanted = -(-inode.size // size)
        if wanted > self.max_dir_blocks:
            listing.complete = False
            listing.problem = f"directory of {wanted} blocks, more than {self.max_dir_blocks}"
            wanted = self.max_dir_blocks
        for _, start, length, initialised in self.data_runs(inode, wanted):
            if not initialised:
                continue
            data = self.blocks(start, length)
            if len(listing.blocks) < MAX_GHOST_BLOCKS:
                listing.blocks += range(start, start + min(length, MAX_GHOST_BLOCKS))
            for at in range(0, len(data), size):
                for ino, code, name in dir_entries(data[at : at + size], filetype, size):
                    if not self._add(listing, ino, code, name):
                        return

    def ghost_names(self, directories: Iterable[int]) -> dict[int, tuple[int, bytes]]:
        """inode -> (directory, name) of removed entries still readable in the blocks of
        ``directories`` (those already listed)."""
        found: dict[int, tuple[int, bytes]] = {}
        for directory in directories:
            listing = self._listings.get(directory)
            if listing is None:
                continue
            live = {ino for ino, _ in listing.entries.values()}
            for block in listing.blocks:
                self.budget.check()
                data = self.block(block)
                for ino, name in ghost_entries(data, self.sb.has_filetype, self.sb.block_size):
                    if ino not in live:
                        found.setdefault(ino, (directory, name))
        return found

    def name_in(self, parent: int, child: int) -> bytes | None:
        names = self._names.get(parent)
        if names is None:
            names = {}
            listing = self.listing(parent)
            if listing is not None:
                for name, (ino, _) in listing.entries.items():
                    if name not in (b".", b".."):
                        names.setdefault(ino, name)
            self._names[parent] = names
        return names.get(child)

    def dir_path(self, ino: int) -> bytes | None:
        """The path of directory ``ino`` from its ``..`` chain, or None (unreachable, loop)."""
        if ino in self._paths:
            return self._paths[ino]
        chain: list[tuple[int, bytes]] = []
        current = ino
        seen: set[int] = set()
        base: bytes | None = None
        while True:
            if current == ROOT_INO:
                base = b"/"
                break
            if current in self._paths:
                base = self._paths[current]
                break
            if current in seen or len(chain) > MAX_PATH_DEPTH:
                break
            seen.add(current)
            listing = self.listing(current)
            if listing is None or listing.parent is None:
                break
            name = self.name_in(listing.parent, current)
            if name is None:
                break
            chain.append((current, name))
            current = listing.parent
        if base is None:
            for directory, _ in chain:
                self._paths[directory] = None
            self._paths[ino] = None
            return None
        path = base
        for directory, name in reversed(chain):
            path = _join(path, name)
            self._paths[directory] = path
        self._paths.setdefault(ino, path)
        return self._paths[ino]

    def entry_path(self, parent: int, name: bytes) -> bytes | None:
        base = self.dir_path(parent)
        return None if base is None else _join(base, name)

    def find_names(
        self, wanted: set[int], max_dirs: int
    ) -> tuple[dict[int, list[tuple[int, bytes]]], bool]:
        """Names of the inodes in ``wanted``, by a walk of the tree from the root.

        Returns (inode -> [(directory, name)], whether the walk finished). It stops once
        every wanted inode has a name, after ``max_dirs`` directories, or at the deadline.
        The walk goes level by level, reading each level's inodes and blocks in batches.
        """
        found: dict[int, list[tuple[int, bytes]]] = {}
        level = [ROOT_INO]
        seen = {ROOT_INO}
        visited = 0
        while level:
            following: list[int] = []
            for first in range(0, len(level), WALK_BATCH):
                batch = level[first : first + WALK_BATCH]
                self._prefetch_listings(batch)
                for directory in batch:
                    if len(found) == len(wanted):
                        return found, True
                    if visited >= max_dirs:
                        return found, False
                    visited += 1
                    listing = self.listing(directory, keep=False)
                    if listing is None:
                        continue
                    for name, (ino, code) in listing.entries.items():
                        if name in (b".", b".."):
                            continue
                        if ino in wanted:
                            found.setdefault(ino, []).append((directory, name))
                        is_dir = code == FT_DIR if self.sb.has_filetype else self._is_dir(ino)
                        if is_dir and ino not in seen:
                            seen.add(ino)
                            following.append(ino)
            level = following
        return found, True

    def prefetch(self, blocks: Iterable[int]) -> None:
        """Read the given blocks (those not cached yet) in one batch."""
        size = self.sb.block_size
        wanted = sorted(
            {b for b in blocks if b not in self._blocks and 0 <= b < self.sb.blocks_count}
        )
        if not wanted:
            return
        self.budget.check()
        self.budget.spend(len(wanted) * size)
        answers = self.reader.read_many([(b * size, size) for b in wanted])
        for block, data in zip(wanted, answers, strict=True):
            if len(data) == size:
                self._keep(block, data)

    def _prefetch_listings(self, directories: list[int]) -> None:
        places = [self.layout.inode_location(d) for d in directories if d not in self._listings]
        self.prefetch(p[0] // self.sb.block_size for p in places if p is not None)
        wanted: list[int] = []
        for directory in directories:
            if directory in self._listings:
                continue
            try:
                inode = self.live(directory, keep=False)
                if inode is None or inode.type != "dir" or inode.flags & INLINE_DATA_FL:
                    continue
                limit = min(-(-inode.size // self.sb.block_size), 16)
                for _, start, length, initialised in self.data_runs(inode, limit):
                    if initialised:
                        wanted += range(start, start + min(length, limit))
            except Ext4Error:
                continue  # listing() will meet it again and record it
        self.prefetch(wanted)

    def _is_dir(self, ino: int) -> bool:
        inode = self.live(ino)
        return inode is not None and inode.type == "dir"


def _join(directory: bytes, name: bytes) -> bytes:
    # A crafted entry can hold '/' or NUL, which no real name does: shown as escapes, so that
    # a name never poses as a path.
    if b"/" in name or b"\0" in name:
        name = name.replace(b"\\", b"\\x5c").replace(b"/", b"\\x2f").replace(b"\0", b"\\x00")
    return b"/" + name if directory == b"/" else directory + b"/" + name
