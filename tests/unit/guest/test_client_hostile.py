"""The host side of the agent channel against a peer that lies, floods and breaks frames.

A real AgentClient talks to a real unix socket; the test plays the guest.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.guest import protocol
from aasee.guest.client import AgentClient, AgentError, GuestEvent


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[tuple[AgentClient, socket.socket]]:
    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    client = AgentClient(path, max_trace_bytes=1000, max_output_bytes=100)
    client.connect(timeout=5)
    guest, _ = server.accept()
    yield client, guest
    client.close()
    guest.close()
    server.close()


def _answer(guest: socket.socket, reply: dict[str, object]) -> None:
    request = protocol.decode_json(next(protocol.FrameReader().feed(guest.recv(65536)))[1])
    guest.sendall(protocol.encode_json({**reply, "re": request["id"]}))


def test_reply_schema_is_enforced(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    threading.Thread(
        target=_answer,
        args=(guest, {"ok": True, "pid": "not a number", "time": 1.0, "monotonic": 1.0}),
    ).start()
    with pytest.raises(ValueError):
        client.execute(["/bin/true"])


def test_refusal_becomes_agent_error(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    threading.Thread(target=_answer, args=(guest, {"ok": False, "error": "no such user"})).start()
    with pytest.raises(AgentError, match="no such user"):
        client.execute(["/bin/true"], user="ghost")


def test_trace_and_output_are_capped(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    trace: list[bytes] = []
    output: list[bytes] = []
    client.trace_sinks.append(trace.append)
    client.output_sinks.append(lambda _s, d: output.append(d))
    done = threading.Event()
    client.event_sinks.append(lambda e: done.set())
    for _ in range(20):
        guest.sendall(protocol.encode(protocol.KIND_TRACE, b"x" * 100))
        guest.sendall(protocol.encode(protocol.KIND_OUTPUT, b"\x01" + b"y" * 30))
    guest.sendall(protocol.encode_json({"ev": "exit", "pid": 5, "code": 0}))
    assert done.wait(5)
    assert sum(map(len, trace)) <= 1000 and client.trace_truncated
    assert sum(len(d) + 1 for d in output) <= 100


def test_invalid_event_is_dropped_not_trusted(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    events: list[GuestEvent] = []
    done = threading.Event()

    def sink(event: GuestEvent) -> None:
        events.append(event)
        done.set()

    client.event_sinks.append(sink)
    guest.sendall(protocol.encode_json({"ev": "exit", "pid": -4, "code": 999}))
    guest.sendall(protocol.encode_json({"ev": "exit", "pid": 9, "code": 1}))
    assert done.wait(5)
    assert [e.pid for e in events] == [9]
    assert client.protocol_errors


def test_garbage_stream_closes_the_channel(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    guest.sendall(b"\x00" * 64)
    with pytest.raises((AgentError, TimeoutError)):
        client.request({"op": "ping"}, timeout=2)
    assert any("magic" in e for e in client.protocol_errors)
