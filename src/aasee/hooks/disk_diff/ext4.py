"""The fixed-size ext4 records the diff reads itself, every field checked before use.

Owns the layout of the superblock, the group descriptors, the inode bitmaps, the inode, the
extent tree and the linear directory entry, as the kernel's ``fs/ext4/ext4.h`` defines them.
Everything here is parsed from bytes of a file system the guest may have crafted: a value
that does not fit (a block beyond the device, a record length that runs off its block, an
extent tree deeper than the format allows) raises :class:`Ext4Error` or ends the walk; none
of it can make the parser loop, recurse without bound or allocate more than its caller's
limit. Variable structures the diff does not need to read itself (file contents, the
journal) are left to e2fsprogs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "EXTENTS_FL",
    "INLINE_DATA_FL",
    "ROOT_INO",
    "Ext4Error",
    "GroupDesc",
    "Inode",
    "Layout",
    "Superblock",
    "attribute_letters",
    "block_map",
    "device_number",
    "dir_entries",
    "file_type",
    "gdt_blocks",
    "ghost_entries",
    "inline_dir_entries",
    "parse_inode",
    "parse_superblock",
    "parse_group_descs",
]

SUPERBLOCK_OFFSET = 1024
SUPERBLOCK_SIZE = 1024
MAGIC = 0xEF53
ROOT_INO = 2

INCOMPAT_FILETYPE = 0x2
INCOMPAT_RECOVER = 0x4
INCOMPAT_META_BG = 0x10
INCOMPAT_EXTENTS = 0x40
INCOMPAT_64BIT = 0x80
INCOMPAT_INLINE_DATA = 0x8000
RO_COMPAT_SPARSE_SUPER = 0x1
RO_COMPAT_HUGE_FILE = 0x8
RO_COMPAT_BIGALLOC = 0x200

BG_INODE_UNINIT = 0x1
BG_BLOCK_UNINIT = 0x2

EXTENTS_FL = 0x80000
INLINE_DATA_FL = 0x10000000
HUGE_FILE_FL = 0x40000
INDEX_FL = 0x1000

EXTENT_MAGIC = 0xF30A
MAX_EXTENT_DEPTH = 5
"""The kernel refuses deeper trees (EXT4_MAX_EXTENT_DEPTH)."""

_TYPES = {
    0o010000: "fifo",
    0o020000: "char",
    0o040000: "dir",
    0o060000: "block",
    0o100000: "file",
    0o120000: "symlink",
    0o140000: "socket",
}

# chattr letters of the flags an administrator (or a sample) sets, as lsattr shows them.
_ATTRIBUTES = (
    (0x1, "s"),
    (0x2, "u"),
    (0x8, "S"),
    (0x10, "i"),
    (0x20, "a"),
    (0x40, "d"),
    (0x80, "A"),
    (0x4000, "j"),
    (0x8000, "t"),
    (0x10000, "D"),
    (0x20000, "T"),
    (0x800000, "C"),
)


class Ext4Error(ValueError):
    """A record is not a valid ext4 structure (or points outside the file system)."""


def _u16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<H", data, offset)[0]
    return value


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _i32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<i", data, offset)[0]
    return value


@dataclass(frozen=True)
class Superblock:
    block_size: int
    blocks_count: int
    inodes_count: int
    inodes_per_group: int
    blocks_per_group: int
    first_data_block: int
    inode_size: int
    desc_size: int
    group_count: int
    first_ino: int
    journal_inum: int
    reserved_gdt_blocks: int
    first_meta_bg: int
    feature_compat: int
    feature_incompat: int
    feature_ro_compat: int
    uuid: bytes

    @property
    def needs_recovery(self) -> bool:
        return bool(self.feature_incompat & INCOMPAT_RECOVER)

    @property
    def has_filetype(self) -> bool:
        return bool(self.feature_incompat & INCOMPAT_FILETYPE)

    @property
    def bigalloc(self) -> bool:
        return bool(self.feature_ro_compat & RO_COMPAT_BIGALLOC)

    def inode_table_blocks(self) -> int:
        return -(-self.inodes_per_group * self.inode_size // self.block_size)

    def group_first_block(self, group: int) -> int:
        return self.first_data_block + group * self.blocks_per_group

    def has_super(self, group: int) -> bool:
        """Whether ``group`` holds a superblock backup (sparse_super: 0, 1, powers of 3, 5, 7)."""
        if group <= 1 or not self.feature_ro_compat & RO_COMPAT_SPARSE_SUPER:
            return True
        for base in (3, 5, 7):
            power = base
            while power < group:
                power *= base
            if power == group:
                return True
        return False


def parse_superblock(data: bytes, device_size: int) -> Superblock:
    """The superblock in ``data`` (its 1024 bytes), checked against the device size."""
    if len(data) < SUPERBLOCK_SIZE:
        raise Ext4Error("superblock cut short")
    if _u16(data, 56) != MAGIC:
        raise Ext4Error("no ext2/3/4 magic number")
    log_block = _u32(data, 24)
    if log_block > 6:
        raise Ext4Error(f"block size 2^{10 + log_block} is not one ext4 allows")
    block_size = 1024 << log_block
    incompat = _u32(data, 96)
    blocks = _u32(data, 4)
    if incompat & INCOMPAT_64BIT:
        blocks |= _u32(data, 336) << 32
    rev_level = _u32(data, 76)
    inode_size = _u16(data, 88) if rev_level >= 1 else 128
    first_ino = _u32(data, 84) if rev_level >= 1 else 11
    desc_size = _u16(data, 254) if incompat & INCOMPAT_64BIT else 32
    if incompat & INCOMPAT_64BIT and desc_size == 0:
        desc_size = 32
    inodes_per_group = _u32(data, 40)
    blocks_per_group = _u32(data, 32)
    first_data_block = _u32(data, 20)
    inodes_count = _u32(data, 0)
    if not 128 <= inode_size <= block_size or inode_size & (inode_size - 1):
        raise Ext4Error(f"inode size {inode_size} is invalid")
    if desc_size < 32 or desc_size > 1024 or desc_size & (desc_size - 1):
        raise Ext4Error(f"group descriptor size {desc_size} is invalid")
    if not 0 < blocks_per_group <= 8 * block_size:
        raise Ext4Error(f"{blocks_per_group} blocks per group is invalid")
    if not 0 < inodes_per_group <= 8 * block_size:
        raise Ext4Error(f"{inodes_per_group} inodes per group is invalid")
    if first_data_block >= blocks or blocks == 0:
        raise Ext4Error("the block count is invalid")
    if blocks * block_size > device_size:
        raise Ext4Error(
            f"the file system claims {blocks * block_size} bytes, the disk has {device_size}"
        )
    groups = -(-(blocks - first_data_block) // blocks_per_group)
    if inodes_count > groups * inodes_per_group or first_ino < 11:
        raise Ext4Error("the inode count is invalid")
    return Superblock(
        block_size=block_size,
        blocks_count=blocks,
        inodes_count=inodes_count,
        inodes_per_group=inodes_per_group,
        blocks_per_group=blocks_per_group,
        first_data_block=first_data_block,
        inode_size=inode_size,
        desc_size=desc_size,
        group_count=groups,
        first_ino=first_ino,
        journal_inum=_u32(data, 224),
        reserved_gdt_blocks=_u16(data, 206),
        first_meta_bg=_u32(data, 260),
        feature_compat=_u32(data, 92),
        feature_incompat=incompat,
        feature_ro_compat=_u32(data, 100),
        uuid=bytes(data[104:120]),
    )


@dataclass(frozen=True)
class GroupDesc:
    block_bitmap: int
    inode_bitmap: int
    inode_table: int
    flags: int

    @property
    def inode_uninit(self) -> bool:
        return bool(self.flags & BG_INODE_UNINIT)

    @property
    def block_uninit(self) -> bool:
        return bool(self.flags & BG_BLOCK_UNINIT)


def gdt_blocks(sb: Superblock, group: int = 0) -> list[int]:
    """Where each block of the group descriptor table is (meta_bg scatters them); ``group``
    names the copy: 0 the primary, another group with a superblock backup its backup."""
    per_block = sb.block_size // sb.desc_size
    count = -(-sb.group_count // per_block)
    first = sb.group_first_block(group) + 1
    if not sb.feature_incompat & INCOMPAT_META_BG:
        return [first + i for i in range(count)]
    where = []
    for index in range(count):
        if index < sb.first_meta_bg:
            where.append(first + index)
        else:
            group = index * per_block
            where.append(sb.group_first_block(group) + (1 if sb.has_super(group) else 0))
    return where


def parse_group_descs(
    sb: Superblock, read_block: Callable[[int], bytes], group: int = 0
) -> list[GroupDesc]:
    """Every group descriptor, each location checked to lie inside the file system."""
    per_block = sb.block_size // sb.desc_size
    descs: list[GroupDesc] = []
    for block in gdt_blocks(sb, group):
        if block >= sb.blocks_count:
            raise Ext4Error(f"group descriptor block {block} lies beyond the file system")
        data = read_block(block)
        for slot in range(per_block):
            if len(descs) == sb.group_count:
                break
            at = slot * sb.desc_size
            block_bitmap, inode_bitmap, inode_table = (
                _u32(data, at),
                _u32(data, at + 4),
                (_u32(data, at + 8)),
            )
            if sb.desc_size >= 64:
                block_bitmap |= _u32(data, at + 32) << 32
                inode_bitmap |= _u32(data, at + 36) << 32
                inode_table |= _u32(data, at + 40) << 32
            descs.append(GroupDesc(block_bitmap, inode_bitmap, inode_table, _u16(data, at + 18)))
    limit = sb.blocks_count
    table = sb.inode_table_blocks()
    for group, desc in enumerate(descs):
        if desc.inode_uninit:
            continue
        if desc.inode_bitmap >= limit or desc.inode_table + table > limit or not desc.inode_table:
            raise Ext4Error(f"group {group} places its inode table outside the file system")
    return descs


@dataclass(frozen=True)
class Layout:
    """A file system's geometry: its superblock and group descriptors."""

    sb: Superblock
    groups: list[GroupDesc]

    def inode_location(self, ino: int) -> tuple[int, int] | None:
        """(byte offset of inode ``ino``, its group), or None if it has no place."""
        if not 0 < ino <= self.sb.inodes_count:
            return None
        group, index = divmod(ino - 1, self.sb.inodes_per_group)
        desc = self.groups[group]
        return desc.inode_table * self.sb.block_size + index * self.sb.inode_size, group

    def group_of_block(self, block: int) -> int:
        return (block - self.sb.first_data_block) // self.sb.blocks_per_group


@dataclass(frozen=True)
class Inode:
    number: int
    mode: int
    uid: int
    gid: int
    size: int
    links: int
    flags: int
    block: bytes
    """The 60 bytes of i_block: extent root, block map, inline data or fast symlink target."""
    generation: int
    file_acl: int
    blocks: int
    mtime: tuple[int, int]
    ctime: tuple[int, int]
    crtime: tuple[int, int] | None
    dtime: int
    xattr_area: bytes
    """In-inode extended attributes (capabilities, SELinux labels) after the extra fields."""

    @property
    def type(self) -> str:
        return file_type(self.mode)

    @property
    def perm(self) -> int:
        return self.mode & 0o7777

    def identity(self) -> tuple[object, ...]:
        """What makes two versions of an inode slot the same object (not a reuse)."""
        return (self.mode & 0o170000, self.generation, self.crtime)

    def compared(self) -> dict[str, object]:
        """Every field that counts as a change; access time, checksums and i_version do not."""
        return {
            "type": self.type,
            "mode": self.perm,
            "uid": self.uid,
            "gid": self.gid,
            "size": self.size,
            "links": self.links,
            "attributes": attribute_letters(self.flags),
            "mtime": self.mtime,
            "ctime": self.ctime,
            "map": (self.block, self.blocks, self.flags & (EXTENTS_FL | INLINE_DATA_FL)),
            "xattrs": (self.file_acl, self.xattr_area),
        }


def _time(seconds: int, extra: int | None) -> tuple[int, int]:
    if extra is None:
        return seconds, 0
    # The low two bits of the extra field extend the epoch; the rest are nanoseconds.
    return seconds + ((extra & 3) << 32), extra >> 2


def parse_inode(number: int, data: bytes, inode_size: int) -> Inode:
    if len(data) < 128:
        raise Ext4Error(f"inode {number} cut short")
    extra_isize = _u16(data, 128) if inode_size > 128 and len(data) >= 130 else 0
    if extra_isize & 3 or 128 + extra_isize > min(inode_size, len(data)):
        extra_isize = 0  # corrupt: read it as a small inode rather than trust it

    def has(offset: int) -> bool:
        return 128 + extra_isize >= offset + 4

    flags = _u32(data, 32)
    size = _u32(data, 4) | (_u32(data, 108) << 32)
    blocks = _u32(data, 28) | (_u16(data, 116) << 32)
    return Inode(
        number=number,
        mode=_u16(data, 0),
        uid=_u16(data, 2) | (_u16(data, 120) << 16),
        gid=_u16(data, 24) | (_u16(data, 122) << 16),
        size=size,
        links=_u16(data, 26),
        flags=flags,
        block=bytes(data[40:100]),
        generation=_u32(data, 100),
        file_acl=_u32(data, 104) | (_u16(data, 118) << 32),
        blocks=blocks,
        mtime=_time(_i32(data, 16), _u32(data, 136) if has(136) else None),
        ctime=_time(_i32(data, 12), _u32(data, 132) if has(132) else None),
        crtime=_time(_i32(data, 144), _u32(data, 148) if has(148) else None) if has(144) else None,
        dtime=_u32(data, 20),
        xattr_area=bytes(data[128 + extra_isize : inode_size]),
    )


def file_type(mode: int) -> str:
    return _TYPES.get(mode & 0o170000, "unknown")


def attribute_letters(flags: int) -> str:
    return "".join(letter for bit, letter in _ATTRIBUTES if flags & bit)


def device_number(block: bytes) -> str:
    """``major:minor`` of a device inode, decoded as the kernel does (old, then new form)."""
    old, new = _u32(block, 0), _u32(block, 4)
    if old:
        return f"{(old >> 8) & 0xFF}:{old & 0xFF}"
    return f"{(new & 0xFFF00) >> 8}:{(new & 0xFF) | ((new >> 12) & 0xFFF00)}"


Extent = tuple[int, int, int, bool]
"""(first logical block, first physical block, length, initialised)."""


def block_map(
    sb: Superblock,
    inode: Inode,
    read_block: Callable[[int], bytes],
    max_blocks: int,
    max_nodes: int = 4096,
) -> list[Extent]:
    """The inode's data as runs of blocks, covering at most ``max_blocks`` logical blocks.

    Extent trees and classic block maps are both read; every physical block is checked to
    lie inside the file system and the walk reads at most ``max_nodes`` tree blocks.
    """
    if inode.flags & INLINE_DATA_FL:
        return []
    budget = [max_nodes]
    if inode.flags & EXTENTS_FL:
        runs: list[Extent] = []
        _extent_node(sb, inode.block, read_block, MAX_EXTENT_DEPTH, runs, max_blocks, budget)
        return runs
    return _indirect(sb, inode.block, read_block, max_blocks, budget)


def _extent_node(
    sb: Superblock,
    node: bytes,
    read_block: Callable[[int], bytes],
    depth_left: int,
    runs: list[Extent],
    max_blocks: int,
    budget: list[int],
) -> None:
    if len(node) < 12 or _u16(node, 0) != EXTENT_MAGIC:
        raise Ext4Error("extent tree node without its magic number")
    entries, depth = _u16(node, 2), _u16(node, 6)
    if depth > depth_left or entries > (len(node) - 12) // 12:
        raise Ext4Error("extent tree node with an impossible depth or entry count")
    for index in range(entries):
        at = 12 + 12 * index
        logical = _u32(node, at)
        if logical >= max_blocks:
            return
        if depth == 0:
            length = _u16(node, at + 4)
            initialised = length <= 32768
            if not initialised:
                length -= 32768
            start = _u32(node, at + 8) | (_u16(node, at + 6) << 32)
            if start + length > sb.blocks_count:
                raise Ext4Error("extent beyond the end of the file system")
            runs.append((logical, start, min(length, max_blocks - logical), initialised))
        else:
            child = _u32(node, at + 4) | (_u16(node, at + 8) << 32)
            if not sb.first_data_block < child < sb.blocks_count:
                raise Ext4Error("extent index points outside the file system")
            budget[0] -= 1
            if budget[0] < 0:
                raise Ext4Error("extent tree larger than the walk allows")
            _extent_node(sb, read_block(child), read_block, depth - 1, runs, max_blocks, budget)


def _indirect(
    sb: Superblock,
    block: bytes,
    read_block: Callable[[int], bytes],
    max_blocks: int,
    budget: list[int],
) -> list[Extent]:
    per = sb.block_size // 4
    runs: list[Extent] = []
    logical = 0

    def add(physical: int) -> None:
        if physical:
            if physical >= sb.blocks_count:
                raise Ext4Error("block map points outside the file system")
            if (
                runs
                and runs[-1][0] + runs[-1][2] == logical
                and (runs[-1][1] + runs[-1][2] == physical)
            ):
                first, start, length, _ = runs[-1]
                runs[-1] = (first, start, length + 1, True)
            else:
                runs.append((logical, physical, 1, True))

    def walk(pointer: int, level: int) -> None:
        nonlocal logical
        span = per**level
        if logical >= max_blocks:
            return
        if not pointer:
            logical += span
            return
        if pointer >= sb.blocks_count:
            raise Ext4Error("block map points outside the file system")
        budget[0] -= 1
        if budget[0] < 0:
            raise Ext4Error("block map larger than the walk allows")
        data = read_block(pointer)
        for slot in range(per):
            if logical >= max_blocks:
                return
            if level == 1:
                add(_u32(data, 4 * slot))
                logical += 1
            else:
                walk(_u32(data, 4 * slot), level - 1)

    for slot in range(12):
        if logical >= max_blocks:
            return runs
        add(_u32(block, 4 * slot))
        logical += 1
    for level, slot in ((1, 12), (2, 13), (3, 14)):
        walk(_u32(block, 4 * slot), level)
    return runs


def dir_entries(data: bytes, filetype: bool, block_size: int) -> Iterator[tuple[int, int, bytes]]:
    """(inode, file type code, name) of each live entry of one linear directory block.

    Hash-tree index blocks parse as entries of inode 0 spanning the block and are skipped,
    as are checksum tails. A record that does not fit its block ends the block's parse.
    """
    offset = 0
    end = len(data)
    while offset + 8 <= end:
        ino, rec_len, name_len, code = struct.unpack_from("<IHBB", data, offset)
        if block_size >= 65536 and rec_len in (0, 65535):
            rec_len = block_size
        if rec_len < 8 or rec_len & 3 or offset + rec_len > end:
            return
        if not filetype:
            name_len |= code << 8
            code = 0
        if ino and 0 < name_len <= rec_len - 8:
            yield ino, code, bytes(data[offset + 8 : offset + 8 + name_len])
        offset += rec_len


def ghost_entries(data: bytes, filetype: bool, block_size: int) -> Iterator[tuple[int, bytes]]:
    """(inode, name) of removed entries whose bytes remain in the slack of a live record.

    Removing a name makes the record before it absorb it; its bytes stay until reused. Only
    plausible records are returned (a name without '/' or NUL); this is a hint, not a fact.
    """
    offset = 0
    end = len(data)
    while offset + 8 <= end:
        ino, rec_len, name_len, code = struct.unpack_from("<IHBB", data, offset)
        if block_size >= 65536 and rec_len in (0, 65535):
            rec_len = block_size
        if rec_len < 8 or rec_len & 3 or offset + rec_len > end:
            return
        if not filetype:
            name_len |= code << 8
        used = (8 + name_len + 3) & ~3 if ino else 8
        at, stop = offset + max(used, 8), offset + rec_len
        while at + 12 <= stop:
            ghost, ghost_len, ghost_name_len, _ = struct.unpack_from("<IHBB", data, at)
            name = bytes(data[at + 8 : at + 8 + ghost_name_len])
            if (
                ghost
                and ghost_name_len
                and ghost_len >= 8 + ghost_name_len
                and not ghost_len & 3
                and at + 8 + ghost_name_len <= stop
                and b"/" not in name
                and b"\0" not in name
            ):
                yield ghost, name
                at += (8 + ghost_name_len + 3) & ~3
            else:
                at += 4
        offset += rec_len


def inline_dir_entries(inode: Inode, filetype: bool) -> tuple[int, list[tuple[int, int, bytes]]]:
    """(parent inode, entries) of a directory stored in its inode (inline_data)."""
    parent = _u32(inode.block, 0)
    return parent, list(dir_entries(inode.block[4:], filetype, 60))
