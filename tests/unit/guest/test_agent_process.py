"""The Go agent end to end without a VM: the binary built for this host serves a unix socket
(``--socket``) or a pseudo-terminal standing in for the virtio port (``--port``), with a
directory of plain files standing in for tracefs, and a real AgentClient talks to it.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from service.agent_harness import AgentProcess, agent_binary

from aasee.guest import protocol
from aasee.guest.client import AgentClient, AgentError, ExecReply, GuestEvent

PROBES = ["p:ae/open do_filp_open dfd=$arg1:s32", "r:ae/open_r do_filp_open ret=$retval:s64"]
EVENTS = ["ae/open", "ae/open_r", "sched/sched_process_fork", "ae/gone"]
FILTERS = [("ae/open_r", "ret < 0")]
TRACEFS_FILES = (
    "tracing_on",
    "set_event",
    "set_event_pid",
    "kprobe_events",
    "trace",
    "buffer_size_kb",
    "trace_clock",
    "options/record-tgid",
    "options/event-fork",
    "per_cpu/cpu0/stats",
    "per_cpu/cpu1/stats",
)


def make_tracefs(root: Path) -> Path:
    """Plain files where tracefs has control files; trace_pipe a FIFO the test feeds."""
    names = [*TRACEFS_FILES]
    for event in EVENTS[:-1]:  # the last one is missing, as a probe the kernel refused
        names += [f"events/{event}/enable", f"events/{event}/filter"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    os.mkfifo(root / "trace_pipe")
    return root


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer.
    folder = Path(tempfile.mkdtemp(prefix="ae-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tracefs(tmp_path: Path) -> Path:
    root = tmp_path / "tracefs"
    root.mkdir()
    return make_tracefs(root)


@pytest.fixture
def served(short_dir: Path, tracefs: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(short_dir / "agent.sock", tracefs)
    yield process
    # Unblock a trace_pipe reader still waiting for a writer, then stop the agent.
    try:
        os.close(os.open(tracefs / "trace_pipe", os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass
    process.close()


class Recorder:
    """What the agent streams: output per stream, events, trace bytes."""

    def __init__(self, client: AgentClient) -> None:
        self.output: dict[int, bytes] = {1: b"", 2: b""}
        self.events: list[GuestEvent] = []
        self.trace = b""
        self.changed = threading.Condition()
        client.output_sinks.append(self._output)
        client.event_sinks.append(self._event)
        client.trace_sinks.append(self._trace)

    def _output(self, stream: int, data: bytes) -> None:
        with self.changed:
            self.output[stream] = self.output.get(stream, b"") + data
            self.changed.notify_all()

    def _event(self, event: GuestEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def _trace(self, data: bytes) -> None:
        with self.changed:
            self.trace += data
            self.changed.notify_all()

    def wait(self, ready: Callable[[], bool], timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(ready, timeout), "timed out"

    def exit_of(self, pid: int, timeout: float = 10) -> GuestEvent:
        def found() -> GuestEvent | None:
            return next((e for e in self.events if e.ev == "exit" and e.pid == pid), None)

        self.wait(lambda: found() is not None, timeout)
        event = found()
        assert event is not None
        return event


@pytest.fixture
def agent(served: AgentProcess) -> Iterator[AgentClient]:
    client = AgentClient(served.path)
    client.connect(timeout=10)
    client.wait_ready(10)
    yield client
    client.close()


@pytest.fixture
def seen(agent: AgentClient) -> Recorder:
    return Recorder(agent)


def run(
    agent: AgentClient, seen: Recorder, argv: list[str], **options: Any
) -> tuple[ExecReply, GuestEvent]:
    reply = agent.execute(argv, **options)
    return reply, seen.exit_of(reply.pid)


# --- the channel ---------------------------------------------------------------------------


def _frames(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    reader = protocol.FrameReader()
    frames: list[tuple[int, bytes]] = []
    sock.settimeout(10)
    while len(frames) < count:
        data = sock.recv(65536)
        assert data, "the agent closed the connection"
        frames += list(reader.feed(data))
    return frames


def test_hello_ping_and_a_second_host(served: AgentProcess) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        deadline = time.monotonic() + 10
        while True:
            try:
                raw.connect(str(served.path))
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        ((kind, payload),) = _frames(raw, 1)
        assert protocol.decode_json(payload) == {"ev": "hello", "agent_version": "0.3.0"}
    # The first host went away; the next one is served by the same agent.
    with AgentClient(served.path) as client:
        client.connect(timeout=10)
        ping = client.wait_ready(10)
    assert (ping.protocol, ping.machine, ping.kernel) == (3, os.uname().machine, os.uname().release)
    assert abs(ping.time - time.time()) < 5 and ping.monotonic is not None


def test_garbage_costs_an_error_event_not_the_agent(served: AgentProcess) -> None:
    with AgentClient(served.path) as client:
        client.connect(timeout=10)
        client.wait_ready(10)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(served.path))
        ping = protocol.encode_json({"op": "ping", "id": 5})
        raw.sendall(b"\x00garbage, then a frame" + ping + b"AE\x03\x01\xff\xff\xff\xff" + ping)
        messages = [protocol.decode_json(p) for _, p in _frames(raw, 5)]
    assert messages[0]["ev"] == "hello"
    assert messages[1]["ev"] == "error" and "magic" in messages[1]["error"]
    assert messages[2]["re"] == 5 and messages[2]["ok"]
    assert messages[3]["ev"] == "error" and "exceeds" in messages[3]["error"]
    assert messages[4]["re"] == 5 and messages[4]["ok"]


def test_unknown_requests_are_refused(agent: AgentClient) -> None:
    with pytest.raises(AgentError, match="unknown op"):
        agent.request({"op": "format_disk"}, timeout=5)
    assert agent.request({"op": "sync"}, timeout=30)["ok"]


def test_put_installs_the_file(agent: AgentClient, tmp_path: Path) -> None:
    data = os.urandom(3 * protocol.DATA_CHUNK + 5)
    target = tmp_path / "new" / "sample.elf"
    agent.put(data, str(target), mode=0o750)
    assert target.read_bytes() == data and target.stat().st_mode & 0o7777 == 0o750
    assert agent.get_file(str(target), cap=len(data), timeout=10).data == data


# --- exec --------------------------------------------------------------------------------


def test_output_and_exit_code(agent: AgentClient, seen: Recorder) -> None:
    reply, exit_event = run(agent, seen, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (reply.exec_error, reply.errno) == (None, None)
    assert (exit_event.code, exit_event.signal) == (3, None)
    assert seen.output == {1: b"out\n", 2: b"err\n"}
    assert exit_event.time is not None and exit_event.time >= reply.time


def test_death_by_signal(agent: AgentClient, seen: Recorder) -> None:
    _, exit_event = run(agent, seen, ["sh", "-c", "kill -KILL $$"])
    assert (exit_event.code, exit_event.signal) == (None, 9)


def test_the_program_gets_a_clean_process(
    agent: AgentClient, seen: Recorder, tmp_path: Path
) -> None:
    script = (
        'pwd; echo "$FOO|$HOME|$USER|$PATH"; '
        "readlink /proc/$$/fd/0; ls /proc/$$/fd; cat /proc/$$/stat"
    )
    reply, exit_event = run(
        agent, seen, ["sh", "-c", script], cwd=str(tmp_path), env={"FOO": "bar"}
    )
    lines = seen.output[1].decode().splitlines()
    assert exit_event.code == 0, seen.output
    assert lines[0] == str(tmp_path)
    assert lines[1] == "bar|/root|root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert lines[2] == "/dev/null"
    assert lines[3:6] == ["0", "1", "2"] and not lines[6].isdigit()  # no leaked descriptors
    stat = lines[6].rsplit(")", 1)[1].split()
    assert int(stat[3]) == reply.pid  # its own session (setsid)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_the_program_runs_as_the_user(agent: AgentClient, seen: Recorder) -> None:
    _, exit_event = run(agent, seen, ["id"], user="nobody", cwd="/")
    assert exit_event.code == 0
    out = seen.output[1].decode()
    assert out.startswith("uid=65534(nobody) gid=65534("), out
    with pytest.raises(AgentError, match="unknown user"):
        agent.execute(["id"], user="no-such-user-here")
    with pytest.raises(AgentError, match="not a directory"):
        agent.execute(["id"], cwd="/no/such/dir")


def test_failed_execve_is_reported(agent: AgentClient, seen: Recorder, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a program")
    text.chmod(0o644)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01\x02\x03 not an executable format")
    junk.chmod(0o755)
    cases = [
        (["/nonexistent/program"], errno.ENOENT, "no such file or directory"),
        (["no-such-program-anywhere"], errno.ENOENT, "no such file or directory"),
        ([str(text)], errno.EACCES, "permission denied"),
        ([str(junk)], errno.ENOEXEC, "exec format error"),
    ]
    for argv, number, text_error in cases:
        reply, exit_event = run(agent, seen, argv)
        assert (reply.errno, reply.exec_error) == (number, text_error), argv
        assert exit_event.code == 127
    assert b"aasee-agent: cannot execute /nonexistent/program" in seen.output[2]


def test_a_sample_that_ptraces_itself_runs_on(agent: AgentClient, seen: Recorder) -> None:
    code = (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('traceme', libc.ptrace(0, 0, None, None), flush=True)\n"
        "signal.signal(signal.SIGUSR1, lambda *a: print('got usr1', flush=True))\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('TracerPid')][0], end='')\n"
    )
    # Stopped at SIGUSR1 by its tracer (the agent), which detaches it with the signal.
    _, exit_event = run(agent, seen, [sys.executable, "-c", code])
    assert exit_event.code == 0, seen.output
    assert seen.output[1].decode().splitlines() == ["traceme 0", "got usr1", "TracerPid:\t0"]


# --- the tracer --------------------------------------------------------------------------


def test_the_pid_is_followed_before_execve(
    agent: AgentClient, seen: Recorder, tracefs: Path
) -> None:
    errors = agent.trace_start(PROBES, EVENTS, FILTERS, buffer_kb=512)
    assert len(errors) == 1 and errors[0].startswith("event not enabled: ae/gone: open ")
    script = f"cat {tracefs}/set_event_pid; echo pid=$$"
    reply, _ = run(agent, seen, ["sh", "-c", script])
    assert seen.output[1].decode().splitlines() == ["0", str(reply.pid), f"pid={reply.pid}"]
    untraced, _ = run(agent, seen, ["true"], trace=False)
    assert str(untraced.pid) not in (tracefs / "set_event_pid").read_text().split()


def test_arming_streaming_and_stopping(agent: AgentClient, seen: Recorder, tracefs: Path) -> None:
    errors = agent.trace_start(PROBES, EVENTS, FILTERS, buffer_kb=512)
    assert [e.split(":")[0] for e in errors] == ["event not enabled"]
    assert (tracefs / "kprobe_events").read_text() == "\n" + "".join(p + "\n" for p in PROBES)
    assert (tracefs / "events/ae/open_r/filter").read_text() == "ret < 0\n"
    assert (tracefs / "events/ae/open/enable").read_text() == "1\n"
    for name, value in [
        ("set_event_pid", "0\n"),
        ("buffer_size_kb", "512\n"),
        ("trace_clock", "mono\n"),
        ("options/event-fork", "1\n"),
        ("tracing_on", "1\n"),
    ]:
        assert (tracefs / name).read_text() == value, name
    pipe = os.open(tracefs / "trace_pipe", os.O_WRONLY)  # waits for the agent's reader
    os.write(pipe, b"sh-1 [000] 1.0: open: path=/etc/passwd\n")
    seen.wait(lambda: b"/etc/passwd" in seen.trace)
    (tracefs / "trace").write_bytes(b"sh-1 [001] 2.0: exit: code=0\n")
    (tracefs / "per_cpu/cpu0/stats").write_text("overrun: 4\ndropped events: 1\n")
    (tracefs / "per_cpu/cpu1/stats").write_text("overrun: 0\ndropped events: 2\n")
    threading.Timer(0.2, os.close, (pipe,)).start()  # tracing off: the pipe ends
    stopped = agent.trace_stop()
    assert stopped.lost == 7 and stopped.errors == errors
    assert (tracefs / "tracing_on").read_text() == "0\n"
    assert seen.trace.endswith(b"sh-1 [001] 2.0: exit: code=0\n")
    # Nothing armed any more: stopping again is harmless.
    assert agent.trace_stop().lost == 0


def test_an_armed_tracer_is_reused_by_the_next_host(served: AgentProcess, tracefs: Path) -> None:
    with AgentClient(served.path) as first:
        first.connect(timeout=10)
        first.wait_ready(10)
        errors = first.trace_start(PROBES, EVENTS, FILTERS)
    (tracefs / "tracing_on").write_text("untouched")
    with AgentClient(served.path) as second:  # a restored snapshot's host
        second.connect(timeout=10)
        second.wait_ready(10)
        assert second.trace_start(PROBES, EVENTS, FILTERS) == errors
        assert (tracefs / "tracing_on").read_text() == "untouched"
        second.trace_start(PROBES, EVENTS[:1], FILTERS)  # another plan re-arms
        assert (tracefs / "tracing_on").read_text() == "1\n"


# --- the port and the supervisor ---------------------------------------------------------


class Port:
    """The host's end of a pseudo-terminal standing in for the virtio-serial port."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # 8-bit clean, no echo: a byte pipe like the port
        self.path = os.ttyname(self.slave)
        self.reader = protocol.FrameReader()

    def messages(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.master], [], [], left)[0], found
            for kind, payload in self.reader.feed(os.read(self.master, 65536)):
                if kind == protocol.KIND_JSON:
                    found.append(protocol.decode_json(payload))
        return found

    def ping(self, rid: int) -> dict[str, Any]:
        os.write(self.master, protocol.encode_json({"op": "ping", "id": rid}))
        while True:
            (message,) = self.messages(1)
            if message.get("re") == rid:
                return message

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _zombies(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            found.append(child)
    return found


def test_init_serves_the_port_itself_survives_signals_and_reaps_orphans(tmp_path: Path) -> None:
    """As PID 1 the agent is the process serving the port: there is no worker a sample could
    kill. Every signal it can be sent is caught; orphans are reaped (as PID 1, and here as
    a subreaper), while the exit status of a program it started still reaches the host."""
    port = Port()
    init = subprocess.Popen(
        [str(agent_binary()), "--init", "--port", port.path, "--tracefs", str(tmp_path)]
    )
    try:
        (hello,) = port.messages(1)
        assert hello["ev"] == "hello"
        assert port.ping(1)["ok"]
        assert _children(init.pid) == []
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGHUP, signal.SIGINT):
            init.send_signal(sig)
        time.sleep(0.3)
        assert init.poll() is None and port.ping(2)["ok"]
        # The program exits 3 and leaves an orphan behind that exits a moment later.
        os.write(
            port.master,
            protocol.encode_json(
                {
                    "op": "exec",
                    "id": 3,
                    "argv": ["/bin/sh", "-c", "(sleep 0.3; exit 9) & exit 3"],
                    "trace": False,
                }
            ),
        )
        exits: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not exits and time.monotonic() < deadline:
            exits += [m for m in port.messages(1) if m.get("ev") == "exit"]
        assert exits and exits[0]["code"] == 3, exits
        deadline = time.monotonic() + 10
        while (_children(init.pid) or _zombies(init.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _children(init.pid) == [], "the orphan was not reaped"
        assert init.poll() is None
    finally:
        init.kill()
        init.wait(5)
        port.close()
