"""The disk diff on disks a hostile root guest crafted: bounded, honest, never raising."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aasee.hooks.disk_diff.fs import Budget, OutOfTime

from .conftest import Diff, by_path
from .diskimages import (
    BLOCK,
    blocks_of,
    debugfs,
    inode_of,
    make_base,
    make_overlay,
    overlay_from_raw,
    replace_bytes,
    run,
    to_raw,
    write_block,
)

pytestmark = [pytest.mark.e2fsprogs, pytest.mark.root]

FILES: dict[str, bytes | str] = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/motd": "welcome\n",
    "tmp/": "",
    "dev/": "",
    "opt/": "",
}


@pytest.fixture
def base(tmp_path: Path, tools: None) -> Path:
    return make_base(tmp_path, FILES)


def _host(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_symlink_loop_is_reported_not_followed(base: Path, diff: Diff) -> None:
    overlay = make_overlay(
        base,
        [
            "symlink /tmp/a /tmp/b",
            "symlink /tmp/b /tmp/a",
            "symlink /tmp/self /tmp/self",
            f"symlink /tmp/long /{'x' * 300}",
        ],
    )
    entries = by_path(diff(overlay))
    assert entries["/tmp/a"]["type"] == "symlink" and entries["/tmp/a"]["target"] == "/tmp/b"
    assert entries["/tmp/b"]["target"] == "/tmp/a"
    assert entries["/tmp/self"]["target"] == "/tmp/self"
    # A target too long for the inode lives in a block of its own.
    assert entries["/tmp/long"]["target"] == "/" + "x" * 300
    assert entries["/tmp/a"]["sha256"] is None


def test_huge_sparse_file_is_not_read_whole(tmp_path: Path, base: Path, diff: Diff) -> None:
    small = _host(tmp_path, "small", b"x" * 100)
    overlay = make_overlay(
        base, [f"write {small} /tmp/sparse", "sif /tmp/sparse size 0x10000000000"]
    )
    start = time.monotonic()
    document = diff(overlay)
    assert time.monotonic() - start < 10
    entry = by_path(document)["/tmp/sparse"]
    assert entry["size"] == 1 << 40
    assert entry["sha256"] is None and entry["content"] is None
    assert any("larger than the hash limit" in note for note in entry["notes"])


def test_device_nodes_fifos_and_sockets_are_reported(
    tmp_path: Path, base: Path, diff: Diff
) -> None:
    empty = _host(tmp_path, "empty", b"")
    overlay = make_overlay(
        base,
        [
            "cd /dev",
            "mknod mem2 c 1 1",
            "mknod sda9 b 8 9",
            "cd /tmp",
            "mknod pipe p",
            f"write {empty} /tmp/sock",
            "sif /tmp/sock mode 0140666",
        ],
    )
    entries = by_path(diff(overlay))
    assert (entries["/dev/mem2"]["type"], entries["/dev/mem2"]["device"]) == ("char", "1:1")
    assert (entries["/dev/sda9"]["type"], entries["/dev/sda9"]["device"]) == ("block", "8:9")
    assert entries["/tmp/pipe"]["type"] == "fifo"
    assert entries["/tmp/sock"]["type"] == "socket"
    for name in ("/dev/mem2", "/dev/sda9", "/tmp/pipe", "/tmp/sock"):
        assert entries[name]["sha256"] is None and entries[name]["content"] is None


def test_names_with_newlines_and_invalid_utf8(tmp_path: Path, base: Path, diff: Diff) -> None:
    data = _host(tmp_path, "data", b"hidden\n")
    placeholder = b"PLACEHOLDER-NAME-1"
    crafted = b"a\nb\xff\xfe<x>\x1b[2J......"
    assert len(crafted) == len(placeholder)

    def patch(raw: Path) -> None:
        replace_bytes(raw, placeholder, crafted)

    overlay = make_overlay(
        base,
        [
            f"write {data} /tmp/{placeholder.decode()}",
            # debugfs takes this as one name, slashes included: no real name holds one.
            "mknod /etc/passwd p",
        ],
        patch=patch,
    )
    document = diff(overlay)
    entries = by_path(document)
    entry = entries["/tmp/" + crafted.decode("utf-8", "backslashreplace")]
    assert "\n" in entry["path"] and "\\xff\\xfe" in entry["path"]
    assert entry["sha256"] is not None
    slashed = entries["/\\x2fetc\\x2fpasswd"]
    assert slashed["type"] == "fifo" and "/etc/passwd" not in entries


def test_thousands_of_files_are_counted_beyond_the_limit(
    tmp_path: Path, base: Path, diff: Diff
) -> None:
    small = _host(tmp_path, "small", b"spam\n")
    commands = ["mkdir /tmp/spam"] + [f"write {small} /tmp/spam/f{i:05d}" for i in range(3000)]
    overlay = make_overlay(base, commands)
    document = diff(overlay, max_entries=100)
    assert document["truncated"] is True and document["complete"] is False
    assert len(document["entries"]) == 100
    assert document["counts"]["created"] == 3001
    assert (
        not (tmp_path / "results" / "disk_diff").exists()
        or len(list((tmp_path / "results" / "disk_diff").iterdir())) == 1
    )


def test_directory_cycles_terminate(tmp_path: Path, base: Path, diff: Diff) -> None:
    small = _host(tmp_path, "small", b"x")
    overlay = make_overlay(
        base,
        [
            "mkdir /opt/a",
            "mkdir /opt/a/b",
            "ln /opt/a /opt/a/b/up",  # a directory hard link: a cycle in the tree
            f"write {small} /opt/a/b/file",
            "sif /etc/passwd mtime 20300101000000",  # found by a walk through the cycle
        ],
    )
    document = diff(overlay)
    entries = by_path(document)
    assert entries["/opt/a/b/file"]["change"] == "created"
    assert entries["/etc/passwd"]["change"] == "metadata"


def test_broken_extent_tree_costs_that_directory_only(
    tmp_path: Path, base: Path, diff: Diff
) -> None:
    small = _host(tmp_path, "small", b"x")
    overlay = make_overlay(
        base,
        [
            "mkdir /opt/bad",
            f"write {small} /opt/bad/inside",
            "sif /opt/bad block[5] 0xfffffff0",  # its one extent now lies beyond the disk
            f"write {small} /tmp/fine",
        ],
    )
    document = diff(overlay)
    entries = by_path(document)
    assert entries["/tmp/fine"]["change"] == "created"
    assert entries["/opt/bad"]["change"] == "created"
    assert any("could not be read whole" in e for e in document["errors"])


def test_orphan_keeps_its_content_and_its_last_name(tmp_path: Path, base: Path, diff: Diff) -> None:
    payload = _host(tmp_path, "payload", b"\x7fELF self-deleting implant")
    # Written, run, unlinked while running: the inode stays, no directory names it.
    overlay = make_overlay(
        base,
        [
            f"write {payload} /tmp/keep",
            f"write {payload} /tmp/.implant",
            "unlink /tmp/.implant",
        ],
        patch=lambda raw: debugfs(raw, [f"sif <{inode_of(raw, '/tmp/keep') + 1}> links_count 0"]),
    )
    entries = [e for e in diff(overlay)["entries"] if e["path"] != "/tmp/keep"]
    (orphan,) = entries
    assert orphan["change"] == "created" and orphan["links"] == 0
    assert orphan["path"] == "/tmp/.implant"
    assert any("orphan" in note for note in orphan["notes"])
    assert any("deleted directory entry" in note for note in orphan["notes"])
    assert orphan["content"] is not None


def test_garbage_overlay_is_an_error_not_an_exception(tmp_path: Path, diff: Diff) -> None:
    overlay = tmp_path / "overlay.qcow2"
    overlay.write_bytes(b"QFI\xfb" + bytes(4096))
    document = diff(overlay)
    assert document["entries"] == []
    assert document["errors"] and document["errors"][0].startswith("disk diff failed")
    missing = diff(tmp_path / "nothing.qcow2")
    assert "missing" in missing["errors"][0]


def test_destroyed_primary_superblock_falls_back_to_a_backup(
    tmp_path: Path, tools: None, diff: Diff
) -> None:
    base = make_base(tmp_path, FILES, size="256M")  # two groups: a backup in group 1
    small = _host(tmp_path, "small", b"x")
    overlay = make_overlay(
        base,
        [f"write {small} /tmp/dropped"],
        patch=lambda raw: write_block(raw, 0, bytes(BLOCK)),
    )
    document = diff(overlay)
    assert any("backup of group 1" in e for e in document["errors"])
    assert "/tmp/dropped" in by_path(document)


def test_wiped_file_system_is_reported_clearly(tmp_path: Path, base: Path, diff: Diff) -> None:
    def wipe(raw: Path) -> None:
        with raw.open("r+b") as handle:
            handle.write(bytes(8 << 20))
            handle.seek(32768 * BLOCK)
            handle.write(bytes(BLOCK))

    document = diff(make_overlay(base, [], patch=wipe))
    assert document["entries"] == []
    (error,) = [e for e in document["errors"] if "unreadable" in e]
    assert "destroyed" in error


def test_time_limit_ends_the_diff_with_what_it_found(
    tmp_path: Path, base: Path, diff: Diff
) -> None:
    small = _host(tmp_path, "small", b"x")
    overlay = make_overlay(base, [f"write {small} /tmp/f{i}" for i in range(200)])
    document = diff(overlay, time_limit=0.001)
    assert document["errors"]
    assert document["complete"] is False


def test_running_out_of_time_inside_the_diff_keeps_what_was_found(
    tmp_path: Path, base: Path, diff: Diff, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = _host(tmp_path, "small", b"x")
    overlay = make_overlay(base, [f"write {small} /tmp/f{i}" for i in range(50)])
    calls = {"n": 0}
    original = Budget.check

    def check(self: Budget) -> None:
        calls["n"] += 1
        if calls["n"] > 40:
            raise OutOfTime()
        original(self)

    monkeypatch.setattr(Budget, "check", check)
    document = diff(overlay)
    assert any("time limit" in e and "incomplete" in e for e in document["errors"])
    assert document["complete"] is False
    assert all(e["path"].startswith("/tmp/f") for e in document["entries"] if e["path"])


def _journalled(tmp_path: Path, base: Path, payload: Path, blocks_from: str) -> Path:
    """An overlay where a file's creation sits in the journal only (committed, not
    checkpointed): its data block is on disk, its metadata only in a journal transaction."""
    work = tmp_path / "journal-work"
    work.mkdir()
    clean = to_raw(base, work / "clean.raw")
    changed = to_raw(base, work / "changed.raw")
    debugfs(changed, [f"write {payload} {blocks_from}"])
    old, new = clean.read_bytes(), changed.read_bytes()

    def block(data: bytes, number: int) -> bytes:
        return data[number * BLOCK : (number + 1) * BLOCK]

    differing = [b for b in range(len(old) // BLOCK) if block(old, b) != block(new, b)]
    (data_block,) = blocks_of(changed, blocks_from)
    metadata = [b for b in differing if b not in (0, data_block)]
    write_block(clean, data_block, block(new, data_block))
    meta = work / "meta.bin"
    meta.write_bytes(b"".join(block(new, b) for b in metadata))
    debugfs(clean, ["jo", f"jw -b {','.join(map(str, metadata))} {meta}", "jc"])
    return overlay_from_raw(clean, base, tmp_path / "overlay.qcow2")


@pytest.mark.parametrize("method", ["fuse", "copy"])
def test_journal_is_replayed_on_a_private_copy(
    tmp_path: Path, base: Path, diff: Diff, method: str
) -> None:
    payload = _host(tmp_path, "payload", b"only in the journal\n")
    overlay = _journalled(tmp_path, base, payload, "/etc/evil")
    before = run("qemu-img", "map", "--output=json", overlay)
    document = diff(overlay, method)
    assert document["journal"] == {"overlay": "replayed", "base": "clean"}
    entry = by_path(document)["/etc/evil"]
    assert entry["change"] == "created"
    assert entry["sha256"] is not None
    # The overlay itself was never written.
    assert run("qemu-img", "map", "--output=json", overlay) == before
    assert "needs_recovery" in run("dumpe2fs", "-h", to_raw(overlay, tmp_path / "check.raw"))


@pytest.mark.parametrize("method", ["fuse", "copy"])
def test_journal_that_destroys_the_disk_is_not_replayed(
    tmp_path: Path, base: Path, diff: Diff, method: str
) -> None:
    # A transaction that, replayed, overwrites the superblock and descriptors with garbage:
    # crafted to blind the diff. Replayed on the private copy only, then read without it.
    work = tmp_path / "journal-work"
    work.mkdir()
    raw = to_raw(base, work / "hostile.raw")
    garbage = work / "garbage.bin"
    garbage.write_bytes(b"\xa5" * (3 * BLOCK))
    small = _host(tmp_path, "small", b"x")
    debugfs(raw, [f"write {small} /tmp/dropped", "jo", f"jw -b 0,1,2 {garbage}", "jc"])
    overlay = overlay_from_raw(raw, base, tmp_path / "overlay.qcow2")
    document = diff(overlay, method)
    assert document["journal"]["overlay"] == "not replayed: its replay destroys the file system"
    assert any("crafted journal" in e for e in document["errors"])
    assert set(by_path(document)) == {"/tmp/dropped"}
