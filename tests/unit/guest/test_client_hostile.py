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


def _answer_every(guest: socket.socket, reply: dict[str, object]) -> None:
    """Answer every request with ``reply`` until the host hangs up."""
    reader = protocol.FrameReader()
    while True:
        try:
            data = guest.recv(65536)
        except OSError:
            return
        if not data:
            return
        for _, payload in reader.feed(data):
            request = protocol.decode_json(payload)
            guest.sendall(protocol.encode_json({**reply, "re": request["id"]}))


STARTED = {"ok": True, "pid": 42, "time": 1.0, "monotonic": 1.0}


def test_a_failed_execve_is_reported(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    failed = {**STARTED, "exec_error": "exec format error", "errno": 8}
    threading.Thread(target=_answer, args=(guest, failed)).start()
    reply = client.execute(["/tmp/sample"])
    assert (reply.pid, reply.exec_error, reply.errno) == (42, "exec format error", 8)


@pytest.mark.parametrize(
    "lie",
    [
        {"exec_error": "no such file or directory"},  # without its errno
        {"errno": 2},  # without its text
        {"exec_error": "x" * 5000, "errno": 2},
        {"exec_error": "", "errno": 2},
        {"exec_error": "bad", "errno": 0},
        {"exec_error": "bad", "errno": 1 << 40},
        {"exec_error": "bad", "errno": "ENOENT"},
        {"exec_error": ["a list"], "errno": 2},
    ],
)
def test_exec_failures_are_validated(
    channel: tuple[AgentClient, socket.socket], lie: dict[str, object]
) -> None:
    client, guest = channel
    threading.Thread(target=_answer, args=(guest, {**STARTED, **lie})).start()
    with pytest.raises(ValueError):
        client.execute(["/tmp/sample"])


PONG = {"ok": True, "agent_version": "0.3.0", "protocol": protocol.VERSION, "kernel": "6.1"}


def test_ping_names_the_machine(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    pong = {**PONG, "uptime": 1.0, "time": 1.0}
    threading.Thread(target=_answer, args=(guest, {**pong, "machine": "mips"})).start()
    assert client.wait_ready(5).machine == "mips"


@pytest.mark.parametrize("machine", [None, "m" * 65, 7])
def test_a_ping_with_a_bad_machine_is_no_answer(
    channel: tuple[AgentClient, socket.socket], machine: object
) -> None:
    client, guest = channel
    pong = {**PONG, "uptime": 1.0, "time": 1.0}
    if machine is not None:
        pong["machine"] = machine
    threading.Thread(target=_answer_every, args=(guest, pong), daemon=True).start()
    with pytest.raises(AgentError, match="did not answer"):
        client.wait_ready(1.5)


PLAN = (["p:ae/open do_filp_open"], ["ae/open", "sched/sched_process_exec"], [("ae/open", "x")])


@pytest.mark.parametrize(
    ("probes", "events", "filters", "buffer_kb"),
    [
        (["p:ae/a f\nw:evil"], PLAN[1], PLAN[2], 1024),
        ([""], PLAN[1], PLAN[2], 1024),
        (["p" * 5000], PLAN[1], PLAN[2], 1024),
        (PLAN[0], ["../../../etc/x"], PLAN[2], 1024),
        (PLAN[0], ["ae/.."], PLAN[2], 1024),
        (PLAN[0], ["sched"], PLAN[2], 1024),
        (PLAN[0], PLAN[1], [("ae/open", "ret < 0\n1")], 1024),
        (PLAN[0], PLAN[1], [("ae/open", 'path ~ "*\n*')], 1024),  # unterminated quote
        (PLAN[0], PLAN[1], [("../ae", "ret < 0")], 1024),
        (PLAN[0], PLAN[1], PLAN[2], 0),
        (PLAN[0], ["ae/x"] * 5000, PLAN[2], 1024),
    ],
)
def test_trace_plans_are_checked_before_sending(
    channel: tuple[AgentClient, socket.socket],
    probes: list[str],
    events: list[str],
    filters: list[tuple[str, str]],
    buffer_kb: int,
) -> None:
    client, _ = channel
    with pytest.raises(ValueError):
        client.trace_start(probes, events, filters, buffer_kb=buffer_kb)


def test_trace_start_sends_the_plan(channel: tuple[AgentClient, socket.socket]) -> None:
    client, guest = channel
    seen: list[dict[str, object]] = []

    def answer() -> None:
        request = protocol.decode_json(next(protocol.FrameReader().feed(guest.recv(65536)))[1])
        seen.append(request)
        reply = {"re": request["id"], "ok": True, "errors": ["e" * 600], "reused": True}
        guest.sendall(protocol.encode_json(reply))

    threading.Thread(target=answer).start()
    assert client.trace_start(*PLAN, buffer_kb=2048, flood_budget=500) == ["e" * 512]
    assert {k: v for k, v in seen[0].items() if k != "id"} == {
        "op": "trace_start",
        "probes": PLAN[0],
        "events": PLAN[1],
        "filters": [["ae/open", "x"]],
        "buffer_kb": 2048,
        "flood_budget": 500,
    }


@pytest.mark.parametrize(
    "errors", ["a string, not a list", [1, 2], ["e"] * 201, [{"error": "x"}], None]
)
def test_trace_start_replies_are_validated(
    channel: tuple[AgentClient, socket.socket], errors: object
) -> None:
    client, guest = channel
    threading.Thread(target=_answer, args=(guest, {"ok": True, "errors": errors})).start()
    with pytest.raises(AgentError, match="invalid reply"):
        client.trace_start(*PLAN)
