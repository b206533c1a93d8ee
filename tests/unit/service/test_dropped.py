"""Dropped-file collection without a VM: a synthetic kernel trace names files on this host
(standing in for the guest's disk) and the real agent code serves them to a real client.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from processing.tracegen import Trace, started

from aasee.guest.client import AgentClient
from aasee.processing.models import DroppedFile
from aasee.service.dropped import collect_dropped, dropped_limits

WRITE = 0x241  # O_WRONLY|O_CREAT|O_TRUNC
FIELDS = set(DroppedFile.model_fields) - {"static"}


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    root = tmp_path / "guest"
    root.mkdir()
    return root


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def _write_trace(out: Path, trace: Trace) -> None:
    (out / "trace.log").write_bytes(b"\n".join(trace.lines) + b"\n")


def _rename(trace: Trace, pid: int, src: str, dst: str) -> None:
    trace.add(pid, "rename", f'olddfd=-100 old="{src}" newdfd=-100 new="{dst}" flags=0x0')
    trace.add(pid, "rename_r", "ret=0")


def _by_path(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in entries}


def _stored(out: Path) -> set[str]:
    return {p.name for p in (out / "dropped").iterdir()} - {"manifest.json"}


def test_collects_what_the_sample_wrote(agent: AgentClient, guest: Path, out: Path) -> None:
    script = b"#!/bin/sh\necho dropped\n"
    payload = os.urandom(70_000)
    secret = guest / "shadow"
    secret.write_bytes(b"root:hash:::\n")
    (guest / "drop.sh").write_bytes(script)
    (guest / "payload.bin").write_bytes(payload)  # written as tmp.bin, then renamed
    (guest / "link").symlink_to(secret)
    os.mkfifo(guest / "fifo")
    (guest / "shared.log").write_bytes(b"last writer wins")
    trace = started(10)
    trace.open(10, f"{guest}/drop.sh", flags=WRITE, mode=0o755)
    trace.open(10, f"{guest}/tmp.bin", flags=WRITE)
    _rename(trace, 10, f"{guest}/tmp.bin", f"{guest}/payload.bin")
    trace.open(10, f"{guest}/deleted.txt", flags=WRITE)
    trace.add(10, "unlink", f'dfd=-100 path="{guest}/deleted.txt"').add(10, "unlink_r", "ret=0")
    trace.open(10, f"{guest}/link", flags=WRITE)
    trace.open(10, f"{guest}/fifo", flags=0x1)
    trace.open(10, f"{guest}/shared.log", flags=0x441)
    trace.fork(10, 11).open(11, f"{guest}/shared.log", flags=0x441)
    trace.open(10, f"{guest}/refused", flags=WRITE, ret=-13)
    trace.open(10, "/dev/null", flags=0x1).open(10, "/proc/self/attr/current", flags=0x1)
    trace.open(10, "/sys/kernel/mm/x", flags=0x1).open(10, f"{guest}/drop.sh")  # a read
    _write_trace(out, trace)
    entries = collect_dropped(agent, out, 10, "/")
    manifest = json.loads((out / "dropped" / "manifest.json").read_text())
    assert manifest == entries and all(set(e) == FIELDS for e in entries)
    found = _by_path(entries)
    assert set(found) == {
        f"{guest}/{name}"
        for name in ("drop.sh", "payload.bin", "deleted.txt", "link", "fifo", "shared.log")
    }
    for name, content in (("drop.sh", script), ("payload.bin", payload)):
        entry = found[f"{guest}/{name}"]
        assert entry["sha256"] == hashlib.sha256(content).hexdigest() == entry["stored_as"]
        assert entry["md5"] == hashlib.md5(content).hexdigest()
        assert entry["sha1"] == hashlib.sha1(content).hexdigest()
        assert (entry["size"], entry["collected"], entry["truncated"]) == (len(content),) * 2 + (
            False,
        )
        copy = out / "dropped" / entry["sha256"]
        assert copy.read_bytes() == content and copy.stat().st_mode & 0o777 == 0o644
        assert entry["pid"] == 10 and entry["process"].startswith("10@")
        assert entry["error"] is None
    assert found[f"{guest}/deleted.txt"]["error"] == "gone before collection"
    link = found[f"{guest}/link"]
    assert "symbolic link" in link["error"] and link["sha256"] is None
    assert "fifo" in found[f"{guest}/fifo"]["error"] and not found[f"{guest}/fifo"]["collected"]
    assert found[f"{guest}/shared.log"]["pid"] == 11
    # Only content-addressed names on the host: the symlink's target was never read.
    assert _stored(out) == {found[f"{guest}/{n}"]["sha256"] for n in ("drop.sh", "payload.bin")} | {
        found[f"{guest}/shared.log"]["sha256"]
    }


def test_caps_on_size_total_and_count(agent: AgentClient, guest: Path, out: Path) -> None:
    trace = started(10)
    for index in range(6):
        (guest / f"f{index}").write_bytes(bytes([index]) * 1000)
        trace.open(10, f"{guest}/f{index}", flags=WRITE)
    _write_trace(out, trace)
    errors: list[str] = []
    entries = collect_dropped(
        agent, out, 10, "/", per_file_cap=600, total_cap=1500, max_files=4, errors=errors
    )
    assert [e["path"] for e in entries] == [f"{guest}/f{i}" for i in range(4)]
    assert [e["collected"] for e in entries] == [600, 600, 300, 0]
    assert all(e["truncated"] and e["size"] == 1000 for e in entries)
    assert entries[0]["sha256"] == hashlib.sha256(b"\0" * 600).hexdigest()
    assert entries[2]["sha256"] == hashlib.sha256(b"\2" * 300).hexdigest()
    assert "total cap" in entries[3]["error"] and entries[3]["stored_as"] is None
    assert errors == [
        "dropped files: 2 more written files were not collected: the limit is 4 files"
    ]


def test_executed_and_chmodded_files_come_before_a_flood(
    agent: AgentClient, guest: Path, out: Path
) -> None:
    trace = started(10)
    for index in range(20):
        trace.open(10, f"{guest}/junk{index}", flags=WRITE)
    trace.open(10, f"{guest}/payload", flags=WRITE)
    trace.add(10, "chmod", f'path="{guest}/payload" mode=0x1ed')
    trace.open(10, f"{guest}/stage2", flags=WRITE)
    trace.fork(10, 12).exec(12, f"{guest}/stage2", [f"{guest}/stage2"])
    _write_trace(out, trace)
    entries = collect_dropped(agent, out, 10, "/", max_files=2)
    assert [e["path"] for e in entries] == [f"{guest}/stage2", f"{guest}/payload"]


def test_directory_rename_moves_what_was_written_inside(
    agent: AgentClient, guest: Path, out: Path
) -> None:
    (guest / "final").mkdir()
    (guest / "final" / "x").write_bytes(b"inside")
    trace = started(10)
    trace.open(10, f"{guest}/staging/x", flags=WRITE)
    _rename(trace, 10, f"{guest}/staging", f"{guest}/final")
    _write_trace(out, trace)
    (entry,) = collect_dropped(agent, out, 10, "/")
    assert entry["path"] == f"{guest}/final/x" and entry["collected"] == 6


def test_relative_paths_resolve_against_the_sample_cwd(
    agent: AgentClient, guest: Path, out: Path
) -> None:
    (guest / "rel.txt").write_bytes(b"relative")
    trace = started(10)
    trace.open(10, "rel.txt", flags=WRITE)
    _write_trace(out, trace)
    (entry,) = collect_dropped(agent, out, 10, str(guest))
    assert entry["path"] == f"{guest}/rel.txt" and entry["collected"] == 8


def test_no_trace_means_nothing_to_collect(agent: AgentClient, out: Path) -> None:
    errors: list[str] = []
    assert collect_dropped(agent, out, 10, "/", errors=errors) == []
    assert errors == ["dropped files: no kernel trace, so no written files are known"]
    assert json.loads((out / "dropped" / "manifest.json").read_text()) == []


def test_garbage_in_the_trace_costs_nothing_else(
    agent: AgentClient, guest: Path, out: Path
) -> None:
    (guest / "a").write_bytes(b"a")
    trace = started(10)
    trace.raw(b"\xff\xfe garbage").raw(b"x" * 100_000)
    trace.open(10, f"{guest}/a", flags=WRITE)
    trace.raw(b"          sample-10      (     10) [000] .....     1.0: open: (half")
    _write_trace(out, trace)
    (entry,) = collect_dropped(agent, out, 10, "/")
    assert entry["collected"] == 1


def test_time_limit_bounds_the_scan(agent: AgentClient, guest: Path, out: Path) -> None:
    trace = started(10).open(10, f"{guest}/a", flags=WRITE)
    _write_trace(out, trace)
    errors: list[str] = []
    assert collect_dropped(agent, out, 10, "/", time_limit=0, errors=errors) == []
    assert "too long to scan" in errors[0]


def test_time_limit_bounds_the_fetching(guest: Path, out: Path) -> None:
    trace = started(10).open(10, f"{guest}/a", flags=WRITE).open(10, f"{guest}/b", flags=WRITE)
    _write_trace(out, trace)
    with _peer(out, silent=True) as agent:
        first, second = collect_dropped(agent, out, 10, "/", time_limit=1.0)
    # The first file waited at most what was left of the limit; the second was not asked for
    # at all (no second wait): the whole collection is bounded by the one limit.
    waited = re.fullmatch(r"not collected: no answer within (\d+\.\d) s", first["error"])
    assert waited and float(waited.group(1)) <= 1.0, first["error"]
    assert "still busy" in second["error"]


def test_a_dead_agent_is_recorded_per_file_not_raised(guest: Path, out: Path) -> None:
    trace = started(10).open(10, f"{guest}/a", flags=WRITE).open(10, f"{guest}/b", flags=WRITE)
    _write_trace(out, trace)
    with _peer(out, silent=False) as agent:
        entries = collect_dropped(agent, out, 10, "/")
    assert [e["stored_as"] for e in entries] == [None, None]
    assert all(e["error"] for e in entries)


@contextmanager
def _peer(out: Path, silent: bool) -> Iterator[AgentClient]:
    """A client whose guest never answers (``silent``) or has gone away."""
    path = out.parent / "peer.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    agent = AgentClient(path)
    agent.connect(timeout=5)
    peer, _ = server.accept()
    if not silent:
        peer.close()
    try:
        yield agent
    finally:
        agent.close()
        peer.close()
        server.close()


def test_limits_come_from_the_generic_hooks_configuration() -> None:
    assert dropped_limits({"results_dir": "/x"}) == {
        "per_file_cap": 16 << 20,
        "total_cap": 128 << 20,
        "max_files": 200,
        "time_limit": 10.0,
    }
    assert dropped_limits({"dropped_file_cap": 1024})["per_file_cap"] == 1024
    for bad in ({"dropped_file_cap": -1}, {"dropped_max_files": "many"}):
        with pytest.raises(ValueError, match="dropped_"):
            dropped_limits(bad)
