"""The host tracer: its bpftrace program, its reordering of bpftrace's output, and a real run
on this host tracing a process tree in a new pid namespace, read back by the trace parser and
the whole postprocessing pipeline.

The real run needs root, bpftrace and ``unshare`` (no VM): it is skipped, saying why, where
they are missing.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aasee.contexts.host_tracer import (
    HostTracer,
    HostTracerError,
    _Pump,
    bpftrace_program,
)
from aasee.processing.models import Report
from aasee.processing.pipeline import process_directory
from aasee.processing.run_meta import RunMeta, write_run_meta
from aasee.processing.trace_parser import TraceEvent, TraceStats, parse_trace, read_trace_lines

TOKEN = "0123456789abcdef"


class TestProgram:
    def test_traces_the_namespace_but_not_its_init(self) -> None:
        text = bpftrace_program(4026532999, TOKEN)
        assert "->ns->ns.inum == 4026532999" in text
        assert "->nr != 1/" in text
        for probe in (
            "tracepoint:raw_syscalls:sys_enter",
            "tracepoint:raw_syscalls:sys_exit",
            "tracepoint:syscalls:sys_exit_openat",
            "tracepoint:syscalls:sys_exit_renameat2",
            "tracepoint:syscalls:sys_exit_connect",
            "tracepoint:sched:sched_process_fork",
            "tracepoint:sched:sched_process_exec",
            "tracepoint:sched:sched_process_exit",
        ):
            assert probe in text
        # Every printf is framed with the token.
        assert text.count("printf(") == text.count(f'printf("\\x1e{TOKEN}')
        assert "kprobe" not in text and "kfunc" not in text

    def test_a_missing_syscall_tracepoint_leaves_its_exit_to_the_raw_probe(self) -> None:
        text = bpftrace_program(1, TOKEN, missing={"fchmodat2"})
        assert "sys_exit_fchmodat2" not in text
        assert "$id == 452" not in text

    def test_x86_64_only(self) -> None:
        with pytest.raises(HostTracerError, match="x86-64"):
            bpftrace_program(1, TOKEN, machine="aarch64")

    def test_token_is_checked(self) -> None:
        with pytest.raises(ValueError, match="hexadecimal"):
            bpftrace_program(1, 'x"); system("id')


class TestPump:
    def _run(self, data: bytes, window: float = 0.0) -> tuple[bytes, _Pump]:
        read_fd, write_fd = os.pipe()
        sink = io.BytesIO()
        sink.close = lambda: None  # type: ignore[method-assign]
        pump = _Pump(os.fdopen(read_fd, "rb"), sink, TOKEN, window)
        pump.thread.start()
        os.write(write_fd, data)
        os.close(write_fd)
        pump.thread.join(10)
        return sink.getvalue(), pump

    def test_records_are_put_in_time_order_and_junk_dropped(self) -> None:
        sep = b"\x1e" + TOKEN.encode()
        data = (
            b"Attaching 9 probes...\n"
            + sep + b"M;\x1f"
            + sep + b"S1 300;third\n\x1f"
            + sep + b"S0 100;first \x1f"
            + sep + b"S1 400;fourth\n\x1fLost 7 events\n"
            + sep + b"C0;part two with \x1f and \x1e inside\n\x1f"
            + sep + b"S0 200;second\n\x1f"
            + sep + b"E;\x1f@map[1]: 2\n"
        )  # fmt: skip
        out, pump = self._run(data)
        assert out == (b"first part two with \x1f and \x1e inside\nsecond\nthird\nfourth\n")
        assert pump.attached.is_set()
        assert pump.stats.lost_events == 7
        assert pump.stats.records == 4
        assert pump.stats.bytes_written == len(out)

    def test_a_record_cut_short_still_ends_its_line(self) -> None:
        sep = b"\x1e" + TOKEN.encode()
        out, pump = self._run(sep + b"M;\x1f" + sep + b"S0 1;half\x1f")
        assert out == b"half\n"
        assert pump.stats.broken_records == 1


# --- a real run ----------------------------------------------------------------------------

UDP_PORT = 5353
WEIRD = 'we"ird\nname'

WORKLOAD = r"""
cd "$1"
/bin/echo hello world > f1
mkdir d1
rmdir d1
mv f1 f2
chmod 600 f2
ln -s f2 l1
ln f2 h1
rm h1 l1
: > "$(printf 'we"ird\nname')"
sh -c 'exit 3'
cat /nonexistent 2>/dev/null
"$2" -c '
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"ping", ("127.0.0.1", int(sys.argv[2])))
' "$3" "$4"
"""


@dataclass
class Run:
    trace: Path
    events: list[TraceEvent]
    parse_stats: TraceStats
    root_pid: int
    workdir: Path
    closed_port: int
    clock: tuple[float, float]
    lost: int


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _skip_reason() -> str | None:
    reason = HostTracer.unavailable_reason()
    if reason is None and shutil.which("unshare") is None:
        reason = "unshare is not installed"
    return reason


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(f"host tracer cannot run here: {reason}")
    base = tmp_path_factory.mktemp("host-tracer")
    workdir = base / "work"
    workdir.mkdir()
    script = base / "sample.sh"
    script.write_text(WORKLOAD)
    go = base / "go"
    os.mkfifo(go)
    port = _closed_port()
    # pid 1 of the namespace plays the agent (not traced): it waits for the tracer, then
    # starts the "sample" (pid 2 there) and reports its pid.
    init = (
        f'read x < "{go}"; /bin/sh "{script}" "{workdir}" "{sys.executable}" {port} {UDP_PORT} & '
        f'echo $! > "{base / "pid"}"; wait'
    )
    container = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", init])
    tracer = HostTracer()
    try:
        inode = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # pid_for_children is the new namespace once unshare(2) has run.
            ours = os.stat("/proc/self/ns/pid").st_ino
            inode = os.stat(f"/proc/{container.pid}/ns/pid_for_children").st_ino
            if inode != ours:
                break
            time.sleep(0.05)
        assert inode is not None
        trace = base / "trace.log"
        tracer.start(inode, trace)
        clock = (time.monotonic(), time.time())
        with open(go, "w") as fifo:
            fifo.write("go\n")
        assert container.wait(60) == 0
        time.sleep(0.2)
    finally:
        if container.poll() is None:
            container.kill()
            container.wait()
        stats = tracer.stop()
    assert stats.returncode == 0, stats
    assert stats.records > 0 and stats.bytes_written == trace.stat().st_size
    parse_stats = TraceStats()
    events = list(parse_trace(read_trace_lines(trace), parse_stats))
    yield Run(
        trace=trace,
        events=events,
        parse_stats=parse_stats,
        root_pid=int((base / "pid").read_text()),
        workdir=workdir,
        closed_port=port,
        clock=clock,
        lost=stats.lost_events,
    )


def _named(run: Run, name: str) -> list[TraceEvent]:
    return [e for e in run.events if e.event == name]


def _path(run: Run, name: str) -> Path:
    return run.workdir / name


class TestRealRun:
    def test_every_line_parses(self, run: Run) -> None:
        assert run.lost == 0
        stats = run.parse_stats
        assert stats.skipped == 0 and stats.interrupted == 0, stats
        assert stats.parsed > 100
        # The name with a quote and a line break is one line of the trace (its line break
        # written as NUL), so nothing needed joining and the name came back whole.
        assert stats.joined == 0 and stats.garbage == 0 and stats.malformed == 0
        assert b"\x00" in run.trace.read_bytes()
        paths = {str(e.fields.get("path")) for e in _named(run, "open")}
        assert any(p.endswith(WEIRD) for p in paths), paths

    def test_pids_are_the_namespace_ones_without_its_init(self, run: Run) -> None:
        assert run.root_pid == 2
        assert {e.tgid for e in run.events} >= {2}
        assert 1 not in {e.tgid for e in run.events}
        assert max(e.pid for e in run.events) < 100

    def test_records_are_in_time_order(self, run: Run) -> None:
        times = [e.ts for e in run.events]
        assert times == sorted(times)
        # CLOCK_MONOTONIC, as the guest's trace clock.
        assert abs(times[0] - run.clock[0]) < 30

    def test_exec_argv_comes_before_its_exec(self, run: Run) -> None:
        execs = _named(run, "sched_process_exec")
        echo = next(e for e in execs if e.get_str("filename") == "/bin/echo")
        before = run.events[run.events.index(echo) - 1]
        assert before.event == "argv" and before.pid == echo.pid
        assert before.get_int("argc") == 3
        assert [before.get_str(f"a{i}") for i in range(4)] == ["/bin/echo", "hello", "world", None]
        assert echo.get_int("pid") == echo.get_int("old_pid") == echo.pid

    def test_fork_names_parent_and_child_in_the_namespace(self, run: Run) -> None:
        forks = [e for e in _named(run, "sched_process_fork") if e.pid == run.root_pid]
        assert len(forks) >= 9
        children = {e.get_int("child_pid") for e in forks}
        for child in children:
            assert child is not None
            first = next(e for e in run.events if e.pid == child)
            fork = next(e for e in forks if e.get_int("child_pid") == child)
            assert run.events.index(fork) < run.events.index(first)

    def test_exit_codes(self, run: Run) -> None:
        codes = {e.get_int("code") for e in _named(run, "exit")}
        assert 3 << 8 in codes  # sh -c 'exit 3'
        assert 1 << 8 in codes  # cat of a missing file

    def test_file_events_and_results(self, run: Run) -> None:
        opens = [e for e in _named(run, "open") if e.get_str("path") == "f1"]
        assert opens and opens[0].get_int("flags") == 0x8241  # O_WRONLY|O_CREAT|O_TRUNC
        assert opens[0].get_int("mode") == 0o100666
        following = run.events[run.events.index(opens[0]) + 1 :][:2]
        assert [e.event for e in following] == ["open_r", "sys_exit"]
        assert following[0].get_int("ret") == following[1].get_int("ret") == 3
        (mkdir,) = [e for e in _named(run, "mkdir") if e.get_str("path") == "d1"]
        assert mkdir.get_int("mode") == 0o777
        assert [e.get_str("path") for e in _named(run, "rmdir")] == ["d1"]
        renames = [e for e in _named(run, "rename") if e.get_str("old") == "f1"]
        assert renames and all(e.get_str("new") == "f2" for e in renames)
        assert any(e.get_int("mode") == 0o600 for e in _named(run, "fchmodat"))
        (symlink,) = _named(run, "symlink")
        assert (symlink.get_str("target"), symlink.get_str("path")) == ("f2", "l1")
        (link,) = _named(run, "link")
        assert (link.get_str("old"), link.get_str("new")) == ("f2", "h1")
        assert {e.get_str("path") for e in _named(run, "unlink")} == {"h1", "l1"}
        assert WEIRD in {e.get_str("path") for e in _named(run, "open")}
        assert any(e.get_str("path") == "/nonexistent" for e in _named(run, "open"))

    def test_network_events(self, run: Run) -> None:
        (connect,) = [e for e in _named(run, "connect") if e.get_int("fam") == 2]
        port = connect.get_int("port")
        assert port is not None and socket.ntohs(port) == run.closed_port
        assert connect.get_int("addr") == int.from_bytes(bytes([127, 0, 0, 1]), "little")
        result = run.events[run.events.index(connect) + 1]
        assert result.event == "connect_r"
        assert result.get_int("ret") == (-111) & 0xFFFFFFFF  # ECONNREFUSED
        (udp,) = _named(run, "udpsend")
        dport = udp.get_int("port")
        assert dport is not None and socket.ntohs(dport) == UDP_PORT
        assert udp.get_int("size") == 4

    def test_the_report_shows_the_run(self, run: Run, tmp_path: Path) -> None:
        out = tmp_path / "results"
        out.mkdir()
        shutil.copy(run.trace, out / "trace.log")
        (out / "sample.bin").write_bytes(b"#!/bin/sh\n")
        write_run_meta(
            RunMeta(
                analysis_id="host-tracer",
                sample_name="sample.sh",
                root_pid=run.root_pid,
                initial_cwd="/",
                clock_sync=run.clock,
            ),
            out,
        )
        report: Report = process_directory(out, html=False).report
        root = report.processes[0]
        assert root.pid == run.root_pid and root.image == "/bin/sh"
        argvs = {tuple(p.argv) for p in report.processes}
        assert ("/bin/echo", "hello", "world") in argvs
        assert ("sh", "-c", "exit 3") in argvs
        codes = {p.argv[0]: p.exit_code for p in report.processes if p.argv}
        assert codes["sh"] == 3 and codes["cat"] == 1
        assert all(p.parent is not None for p in report.processes[1:])
        files = report.files
        created = {f.path for f in files.created}
        assert {str(_path(run, "f1")), str(_path(run, WEIRD))} <= created
        assert any(
            (r.src, r.dst, r.ok) == (str(_path(run, "f1")), str(_path(run, "f2")), True)
            for r in files.renamed
        )
        deleted = {(d.path, d.op) for d in files.deleted}
        assert {(str(_path(run, "h1")), "unlink"), (str(_path(run, "d1")), "rmdir")} <= deleted
        assert {(m.path, m.mode) for m in files.mkdir} == {(str(_path(run, "d1")), "0777")}
        assert any(c.path == str(_path(run, "f2")) and c.mode == "0600" for c in files.chmod)
        links = {(k.kind, k.target, k.path) for k in files.links}
        assert ("symlink", "f2", str(_path(run, "l1"))) in links
        assert ("link", str(_path(run, "f2")), str(_path(run, "h1"))) in links
        read = {(r.path, r.ok) for r in files.read}
        assert ("/nonexistent", False) in read
        (conn,) = report.network.connections
        assert (conn.proto, conn.dst_ip, conn.dst_port) == ("tcp", "127.0.0.1", run.closed_port)
        assert conn.result == "ECONNREFUSED"
        (udp,) = report.network.udp
        assert (udp.dst_ip, udp.dst_port, udp.bytes, udp.result) == (
            "127.0.0.1",
            UDP_PORT,
            4,
            "ok",
        )
