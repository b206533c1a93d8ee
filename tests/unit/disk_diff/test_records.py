"""The ext4 record parsers on crafted bytes, the range arithmetic, and the bounded tool runner."""

from __future__ import annotations

import os
import random
import struct
import time

import pytest

from aasee.hooks.disk_diff.ext4 import (
    EXTENTS_FL,
    Ext4Error,
    block_map,
    dir_entries,
    ghost_entries,
    parse_inode,
    parse_superblock,
)
from aasee.hooks.disk_diff.images import Ranges
from aasee.hooks.disk_diff.tools import Sandbox, ToolError, run_tool


def _superblock(**fields: int) -> bytearray:
    data = bytearray(1024)
    values = {
        0: 8192,  # inodes
        4: 32768,  # blocks
        20: 0,  # first data block
        24: 2,  # 4 KiB blocks
        32: 32768,  # blocks per group
        40: 8192,  # inodes per group
        76: 1,  # dynamic revision
        84: 11,  # first inode
    }
    for offset, value in values.items():
        struct.pack_into("<I", data, offset, value)
    struct.pack_into("<H", data, 56, 0xEF53)
    struct.pack_into("<H", data, 88, 256)
    for offset, value in fields.items():
        struct.pack_into("<I", data, int(offset.lstrip("o")), value)
    return data


def test_superblock_checks() -> None:
    sb = parse_superblock(bytes(_superblock()), 128 << 20)
    assert (sb.block_size, sb.group_count, sb.inode_size) == (4096, 1, 256)
    with pytest.raises(Ext4Error, match="claims"):
        parse_superblock(bytes(_superblock()), 1 << 20)
    with pytest.raises(Ext4Error):
        parse_superblock(bytes(_superblock(o24=40)), 1 << 40)
    with pytest.raises(Ext4Error):
        parse_superblock(bytes(_superblock(o40=0)), 1 << 40)


def test_random_superblocks_only_raise_ext4_errors() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = bytearray(rng.randbytes(1024))
        struct.pack_into("<H", data, 56, 0xEF53)
        try:
            parse_superblock(bytes(data), rng.choice([1 << 20, 1 << 40, 1 << 62]))
        except Ext4Error:
            pass


def test_directory_blocks_never_overrun() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        block = rng.randbytes(rng.choice([12, 60, 4096]))
        for ino, _, name in dir_entries(block, rng.random() < 0.5, 4096):
            assert ino and name
        for ino, name in ghost_entries(block, True, 4096):
            assert ino and b"/" not in name and b"\0" not in name


def test_extent_tree_loops_and_lies_are_refused() -> None:
    sb = parse_superblock(bytes(_superblock()), 128 << 20)
    raw = bytearray(256)
    struct.pack_into("<HHI", raw, 0, 0o100644, 0, 1 << 20)
    struct.pack_into("<I", raw, 32, EXTENTS_FL)
    # Root: an index of depth 5 pointing at block 100, which points at itself.
    struct.pack_into("<HHHHI", raw, 40, 0xF30A, 1, 4, 5, 0)
    struct.pack_into("<IIHH", raw, 52, 0, 100, 0, 0)
    inode = parse_inode(12, bytes(raw), 256)
    node = bytearray(4096)
    struct.pack_into("<HHHHI", node, 0, 0xF30A, 1, 340, 5, 0)
    struct.pack_into("<IIHH", node, 12, 0, 100, 0, 0)
    reads: list[int] = []

    def read(block: int) -> bytes:
        reads.append(block)
        return bytes(node)

    with pytest.raises(Ext4Error):
        block_map(sb, inode, read, 1 << 30)
    assert len(reads) <= 5
    # A leaf beyond the end of the file system.
    struct.pack_into("<HHHHI", raw, 40, 0xF30A, 1, 4, 0, 0)
    struct.pack_into("<IHHI", raw, 52, 0, 8, 0, 10**9)
    with pytest.raises(Ext4Error, match="beyond"):
        block_map(sb, parse_inode(12, bytes(raw), 256), read, 1 << 30)


def test_short_and_random_inodes() -> None:
    with pytest.raises(Ext4Error):
        parse_inode(12, b"\0" * 100, 256)
    rng = random.Random(3)
    for _ in range(2000):
        inode = parse_inode(12, rng.randbytes(256), 256)
        assert len(inode.block) == 60 and inode.compared()


def test_ranges() -> None:
    ranges = Ranges.of([(10, 20), (15, 30), (40, 50), (0, 0)])
    assert ranges.spans == [(10, 30), (40, 50)]
    assert ranges.minus(Ranges.of([(12, 14), (25, 45)])).spans == [(10, 12), (14, 25), (45, 50)]
    assert list(ranges.overlaps(0, 11)) == [(10, 11)]
    assert list(ranges.overlaps(30, 40)) == []
    assert ranges.contains(49) and not ranges.contains(50)
    assert Ranges.of([(4095, 4097)]).in_blocks(4096).spans == [(0, 2)]
    assert ranges.total == 30


def test_tool_deadline_kills_the_whole_session() -> None:
    start = time.monotonic()
    with pytest.raises(ToolError, match="did not finish"):
        run_tool(["sh", "-c", "sleep 30 & sleep 30"], Sandbox(), timeout=0.5)
    assert time.monotonic() - start < 5


def test_tool_limits() -> None:
    with pytest.raises(ToolError, match="signal"):
        run_tool(
            ["dd", "if=/dev/zero", "of=/dev/stdout", "bs=1M", "count=4"],
            Sandbox(),
            timeout=10,
            file_size=1 << 20,
        )
    result = run_tool(
        ["sh", "-c", "head -c 100000 /dev/zero"], Sandbox(), timeout=10, output_limit=1000
    )
    assert result.stdout_truncated and len(result.stdout) == 1000


@pytest.mark.root
def test_tools_run_as_nobody() -> None:
    if os.geteuid() != 0:
        raise AssertionError("switching to nobody needs root: run as root")
    result = run_tool(["id", "-u"], Sandbox.default(), timeout=10)
    assert result.stdout.strip() == b"65534"
