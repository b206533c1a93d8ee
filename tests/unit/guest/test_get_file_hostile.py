"""``AgentClient.get_file`` against a guest that lies about, floods and misroutes file bytes.

A real AgentClient talks to a real unix socket; the test plays the guest, which answers each
``get`` with the frames a scenario chooses.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aasee.guest import protocol
from aasee.guest.client import AgentClient, AgentError

PATH = "/tmp/dropped.bin"
CONTENT = b"MZ" + bytes(range(256)) * 4


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[tuple[AgentClient, socket.socket]]:
    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    client = AgentClient(path)
    client.connect(timeout=5)
    guest, _ = server.accept()
    yield client, guest
    client.close()
    guest.close()
    server.close()


Script = Callable[[dict[str, Any]], list[bytes]]


def _play(guest: socket.socket, script: Script, requests: int = 1) -> threading.Thread:
    """Answer the next ``requests`` requests with the frames ``script`` makes for each."""

    def run() -> None:
        reader = protocol.FrameReader()
        answered = 0
        while answered < requests:
            data = guest.recv(65536)
            if not data:
                return
            for _, payload in reader.feed(data):
                guest.sendall(b"".join(script(protocol.decode_json(payload))))
                answered += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _reply(request: dict[str, Any], data: bytes, **override: Any) -> bytes:
    reply = {
        "re": request["id"],
        "ok": True,
        "path": request["path"],
        "exists": True,
        "kind": "file",
        "size": len(CONTENT),
        "mode": 0o755,
        "sent": len(data),
        "truncated": len(data) < len(CONTENT),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return protocol.encode_json({**reply, **override})


def _honest(request: dict[str, Any]) -> list[bytes]:
    data = CONTENT[: request["cap"]]
    chunks = [
        protocol.encode_file(request["id"], data[i : i + 100]) for i in range(0, len(data), 100)
    ]
    return [*chunks, _reply(request, data)]


def test_an_honest_guest_is_believed(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    _play(guest, _honest, requests=2)
    whole = client.get_file(PATH, cap=len(CONTENT), timeout=5)
    assert whole.data == CONTENT and not whole.truncated and whole.mode == 0o755
    part = client.get_file(PATH, cap=300, timeout=5)
    assert part.data == CONTENT[:300] and part.truncated
    assert not client.protocol_errors


# The calls below are given an hour: one that waited for its timeout instead of failing at
# once would never return within the test's own limit.
PATIENT = 3600.0


@pytest.mark.timeout(60)
def test_more_than_the_cap_fails_at_once(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    # Floods past the cap and never replies: the client must not wait for the timeout.
    _play(guest, lambda r: [protocol.encode_file(r["id"], b"x" * 600) for _ in range(50)])
    with pytest.raises(AgentError, match="more than the 1000-byte cap"):
        client.get_file(PATH, cap=1000, timeout=PATIENT)


def _misrouted(request: dict[str, Any]) -> list[bytes]:
    return [protocol.encode_file(request["id"] + 1, CONTENT), _reply(request, CONTENT)]


def _after_reply(request: dict[str, Any]) -> list[bytes]:
    return [_reply(request, CONTENT), protocol.encode_file(request["id"], CONTENT)]


def _lying_count(request: dict[str, Any]) -> list[bytes]:
    return [protocol.encode_file(request["id"], CONTENT), _reply(request, CONTENT, sent=10)]


def _lying_hash(request: dict[str, Any]) -> list[bytes]:
    return [
        protocol.encode_file(request["id"], CONTENT),
        _reply(request, CONTENT, sha256=hashlib.sha256(b"other").hexdigest()),
    ]


def _other_path(request: dict[str, Any]) -> list[bytes]:
    return [protocol.encode_file(request["id"], CONTENT), _reply(request, CONTENT, path="/etc/x")]


def _symlink_content(request: dict[str, Any]) -> list[bytes]:
    return [protocol.encode_file(request["id"], CONTENT), _reply(request, CONTENT, kind="symlink")]


def _missing_but_present(request: dict[str, Any]) -> list[bytes]:
    return [_reply(request, b"", exists=False, kind="file")]


def _present_but_missing(request: dict[str, Any]) -> list[bytes]:
    return [_reply(request, b"", exists=True, kind="missing")]


def _early_truncation(request: dict[str, Any]) -> list[bytes]:
    return [protocol.encode_file(request["id"], CONTENT[:10]), _reply(request, CONTENT[:10])]


def _bad_schema(field: str, value: Any) -> Script:
    return lambda request: [_reply(request, b"", **{field: value})]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (_misrouted, "announced 1026 bytes but sent 0"),
        (_after_reply, "announced 1026 bytes but sent 0"),
        (_lying_count, "announced 10 bytes but sent 1026"),
        (_lying_hash, "SHA-256"),
        (_other_path, "another path"),
        (_symlink_content, "content of a symlink"),
        (_missing_but_present, "does not exist of kind file"),
        (_present_but_missing, "exists of kind missing"),
        (_early_truncation, "below the 1026-byte cap"),
        (_bad_schema("size", -1), "invalid reply"),
        (_bad_schema("mode", 0o1000000), "invalid reply"),
        (_bad_schema("kind", "door"), "invalid reply"),
        (_bad_schema("sha256", "zz"), "invalid reply"),
        (_bad_schema("sent", "many"), "invalid reply"),
        (_bad_schema("path", "/" + "a" * 5000), "invalid reply"),
    ],
)
def test_inconsistent_answers_are_refused(
    channel: tuple[AgentClient, socket.socket], script: Script, message: str
) -> None:
    client, guest = channel
    _play(guest, script)
    with pytest.raises(AgentError, match=message):
        client.get_file(PATH, cap=len(CONTENT), timeout=5)


def test_stale_bytes_never_reach_the_next_file(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    answers = iter([_after_reply, _honest])
    _play(guest, lambda r: next(answers)(r), requests=2)
    with pytest.raises(AgentError):
        client.get_file(PATH, cap=len(CONTENT), timeout=5)
    # The first answer's trailing bytes arrive during the second get, tagged with the old id.
    assert client.get_file(PATH, cap=len(CONTENT), timeout=5).data == CONTENT
    assert any("no get in progress" in e for e in client.protocol_errors)


def test_a_refusal_is_an_agent_error(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    _play(guest, lambda r: [protocol.encode_json({"re": r["id"], "ok": False, "error": "EACCES"})])
    with pytest.raises(AgentError, match="EACCES"):
        client.get_file(PATH, cap=10, timeout=5)


def test_silence_is_a_timeout(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    _play(guest, lambda r: [protocol.encode_file(r["id"], b"slow")])
    with pytest.raises(TimeoutError):
        client.get_file(PATH, cap=10, timeout=0.5)


def test_a_file_frame_without_id_drops_the_channel(
    channel: tuple[AgentClient, socket.socket],
) -> None:
    client, guest = channel
    _play(guest, lambda r: [protocol.encode(protocol.KIND_FILE, b"\x00\x01")])
    with pytest.raises(AgentError, match="invalid frame: FILE frame of 2 bytes has no request id"):
        client.get_file(PATH, cap=10, timeout=5)


@pytest.mark.parametrize(
    ("path", "cap"),
    [("relative/path", 10), ("/a\0b", 10), ("/" + "a" * 5000, 10), (PATH, -1), (PATH, 2 << 30)],
)
def test_bad_requests_are_refused_before_asking(
    channel: tuple[AgentClient, socket.socket], path: str, cap: int
) -> None:
    client, _ = channel
    with pytest.raises(ValueError):
        client.get_file(path, cap=cap, timeout=1)


@pytest.mark.timeout(60)
def test_an_agent_of_another_build_fails_fast_and_says_what_to_do(
    channel: tuple[AgentClient, socket.socket],
) -> None:
    client, guest = channel
    old = protocol.HEADER.pack(protocol.MAGIC, protocol.VERSION - 1, protocol.KIND_JSON, 2)
    guest.sendall(old + b"{}")
    for _ in range(2):  # the waiting request and every later one
        with pytest.raises(AgentError, match="rebuild it with `aasee image build`"):
            client.wait_ready(timeout=PATIENT)
