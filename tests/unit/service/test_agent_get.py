"""``get`` end to end without a VM: the real agent, built for this host, answers a real
AgentClient.

What must hold in the guest holds here on real files: regular files are read up to the cap,
symlinks are reported and never followed, FIFOs and devices are never opened for reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aasee.guest import protocol
from aasee.guest.client import AgentClient, AgentError


def test_regular_file_is_read_whole(agent: AgentClient, tmp_path: Path) -> None:
    content = os.urandom(3 * protocol.DATA_CHUNK + 17)  # several FILE frames
    target = tmp_path / "payload.bin"
    target.write_bytes(content)
    target.chmod(0o4751)
    got = agent.get_file(str(target), cap=len(content), timeout=10)
    assert (got.exists, got.kind, got.size, got.mode) == (True, "file", len(content), 0o4751)
    assert got.data == content and not got.truncated


def test_cap_truncates_and_says_so(agent: AgentClient, tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    target.write_bytes(b"A" * 1000 + b"B" * 1000)
    got = agent.get_file(str(target), cap=1000, timeout=10)
    assert got.data == b"A" * 1000 and got.truncated and got.size == 2000
    exact = agent.get_file(str(target), cap=2000, timeout=10)
    assert len(exact.data) == 2000 and not exact.truncated
    facts = agent.get_file(str(target), cap=0, timeout=10)
    assert facts.data == b"" and facts.truncated and facts.size == 2000


def test_empty_file(agent: AgentClient, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    got = agent.get_file(str(tmp_path / "empty"), cap=100, timeout=10)
    assert (got.kind, got.size, got.data, got.truncated) == ("file", 0, b"", False)


def test_symlink_is_reported_not_followed(agent: AgentClient, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:secret-hash:19000:0:99999:7:::\n")
    link = tmp_path / "innocent.txt"
    link.symlink_to(secret)
    got = agent.get_file(str(link), cap=1 << 20, timeout=10)
    assert (got.exists, got.kind, got.data) == (True, "symlink", b"")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert agent.get_file(str(dangling), cap=10, timeout=10).kind == "symlink"


def test_fifo_without_writer_does_not_block(agent: AgentClient, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # An agent that opened the FIFO would block for good (no writer ever comes) and this
    # call would time out instead of answering.
    got = agent.get_file(str(fifo), cap=1 << 20, timeout=5)
    assert (got.kind, got.data) == ("fifo", b"")
    # The agent is still responsive afterwards.
    assert agent.get_file(str(fifo), cap=1, timeout=5).kind == "fifo"


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "char"), ("/dev/null", "char"), ("/", "directory")]
)
def test_devices_and_directories_are_not_read(agent: AgentClient, path: str, kind: str) -> None:
    got = agent.get_file(path, cap=4096, timeout=5)
    assert (got.exists, got.kind, got.data, got.truncated) == (True, kind, b"", False)


def test_missing_path(agent: AgentClient, tmp_path: Path) -> None:
    for path in (tmp_path / "gone", tmp_path / "gone" / "deeper"):
        got = agent.get_file(str(path), cap=10, timeout=5)
        assert (got.exists, got.kind, got.size, got.data) == (False, "missing", 0, b"")
    (tmp_path / "plain").write_text("x")
    got = agent.get_file(str(tmp_path / "plain" / "under-a-file"), cap=10, timeout=5)
    assert not got.exists


def test_agent_refuses_relative_paths(agent: AgentClient) -> None:
    with pytest.raises(AgentError, match="absolute"):
        agent.request({"op": "get", "path": "etc/passwd", "cap": 10}, timeout=5)


def test_read_error_is_an_agent_error_and_the_agent_goes_on(
    agent: AgentClient, tmp_path: Path
) -> None:
    # A regular file whose read fails (EIO at offset 0): the kernel's own example.
    with pytest.raises(AgentError, match="read /proc/self/mem: input/output error"):
        agent.get_file("/proc/self/mem", cap=10, timeout=5)
    (tmp_path / "after").write_bytes(b"fine")
    assert agent.get_file(str(tmp_path / "after"), cap=10, timeout=5).data == b"fine"
