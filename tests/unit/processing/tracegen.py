"""Builds synthetic ftrace text in the exact format the in-guest tracer produces."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from aasee.processing.behaviour import Behaviour, build_behaviour
from aasee.processing.trace_parser import parse_trace

PROBES = {
    "open": "do_filp_open+0x0/0x160",
    "unlink": "do_unlinkat+0x0/0x2f0",
    "rmdir": "do_rmdir+0x0/0x1f0",
    "mkdir": "do_mkdirat+0x0/0x170",
    "rename": "do_renameat2+0x0/0x5f0",
    "symlink": "do_symlinkat+0x0/0x110",
    "link": "do_linkat+0x0/0x2d0",
    "chmod": "__x64_sys_chmod+0x0/0x20",
    "fchmodat": "__x64_sys_fchmodat+0x0/0x20",
    "fchmod": "__x64_sys_fchmod+0x0/0x70",
    "chdir": "__x64_sys_chdir+0x0/0x100",
    "argv": "start_thread+0x0/0x20",
    "connect": "__sys_connect_file+0x0/0x70",
    "bind": "inet_bind+0x0/0x60",
    "bind6": "inet6_bind+0x0/0x60",
    "udpsend": "udp_sendmsg+0x0/0xb10",
    "ptrace": "__x64_sys_ptrace+0x0/0x120",
    "exit": "do_exit+0x0/0xb10",
}
RETPROBES = {
    "open_r": "do_sys_openat2+0xaf/0x170 <- do_filp_open",
    "connect_r": "__sys_connect+0xa4/0xd0 <- __sys_connect_file",
    "unlink_r": "__x64_sys_unlink+0x3f/0x50 <- do_unlinkat",
    "rename_r": "__x64_sys_rename+0x3f/0x50 <- do_renameat2",
}
FILE_POINTER = -128926289535744


def header(pid: int, comm: str = "sample", tgid: int | None = None, ts: float = 1.0) -> str:
    """The record header exactly as ftrace prints it (comm in 16 columns, pid in 7)."""
    tgid_text = "-------" if tgid == -1 else f"{pid if tgid is None else tgid:>7}"
    return f"{comm:>16}-{pid:<7} ({tgid_text}) [000] ..... {ts:12.6f}: "


def record(
    pid: int, event: str, body: str, comm: str = "sample", tgid: int | None = None, ts: float = 1.0
) -> bytes:
    if event in PROBES:
        body = f"({PROBES[event]}) {body}"
    elif event in RETPROBES:
        body = f"({RETPROBES[event]}) {body}"
    return (header(pid, comm, tgid, ts) + f"{event}: {body}").encode()


def wire_port(port: int) -> int:
    """A port as the probe prints it: network-order bytes read little-endian."""
    return int.from_bytes(port.to_bytes(2, "big"), "little")


def wire_ipv4(address: str) -> int:
    return int.from_bytes(ipaddress.IPv4Address(address).packed, "little")


def wire_ipv6(address: str) -> tuple[int, int]:
    packed = ipaddress.IPv6Address(address).packed
    return int.from_bytes(packed[:8], "little"), int.from_bytes(packed[8:], "little")


class Trace:
    """Accumulates records with increasing timestamps."""

    def __init__(self, start: float = 10.0) -> None:
        self.lines: list[bytes] = []
        self.ts = start

    def add(
        self, pid: int, event: str, body: str, comm: str = "sample", tgid: int | None = None
    ) -> Trace:
        self.ts += 0.001
        self.lines.append(record(pid, event, body, comm, tgid, self.ts))
        return self

    def raw(self, line: bytes) -> Trace:
        self.lines.append(line)
        return self

    def syscall(
        self,
        pid: int,
        nr: int,
        args: Iterable[int] = (),
        ret: int | None = 0,
        comm: str = "sample",
        tgid: int | None = None,
    ) -> Trace:
        values = list(args) + [0] * 6
        text = ", ".join(f"{value & 0xFFFFFFFFFFFFFFFF:x}" for value in values[:6])
        self.add(pid, "sys_enter", f"NR {nr} ({text})", comm, tgid)
        if ret is not None:
            self.add(pid, "sys_exit", f"NR {nr} = {ret}", comm, tgid)
        return self

    def enter(
        self,
        pid: int,
        nr: int,
        args: Iterable[int] = (),
        comm: str = "sample",
        tgid: int | None = None,
    ) -> Trace:
        return self.syscall(pid, nr, args, None, comm, tgid)

    def leave(
        self, pid: int, nr: int, ret: int, comm: str = "sample", tgid: int | None = None
    ) -> Trace:
        return self.add(pid, "sys_exit", f"NR {nr} = {ret}", comm, tgid)

    def exec(self, pid: int, filename: str, argv: list[str], comm: str | None = None) -> Trace:
        comm = comm or filename.rsplit("/", 1)[-1][:15]
        args = " ".join(f'a{i}="{argv[i]}"' if i < len(argv) else f"a{i}=(fault)" for i in range(8))
        self.add(pid, "argv", f"argc={len(argv)} {args}", comm=comm)
        return self.add(
            pid, "sched_process_exec", f"filename={filename} pid={pid} old_pid={pid}", comm=comm
        )

    def fork(self, parent: int, child: int, comm: str = "sample", tgid: int | None = None) -> Trace:
        return self.add(
            parent,
            "sched_process_fork",
            f"comm={comm} pid={parent} child_comm={comm} child_pid={child}",
            comm=comm,
            tgid=tgid,
        )

    def exit(self, pid: int, status: int = 0, comm: str = "sample") -> Trace:
        self.add(pid, "exit", f"code={status}", comm=comm)
        return self.add(pid, "sched_process_exit", f"comm={comm} pid={pid} prio=120", comm=comm)

    def open(
        self,
        pid: int,
        path: str,
        flags: int = 0x8000,
        ret: int = FILE_POINTER,
        dfd: int = -100,
        mode: int = 0,
        comm: str = "sample",
        tgid: int | None = None,
    ) -> Trace:
        body = f'dfd={dfd} path="{path}" flags={flags:#x} mode={mode:#x}'
        self.add(pid, "open", body, comm, tgid)
        return self.add(pid, "open_r", f"ret={ret}", comm, tgid)


def behaviour(
    lines: Iterable[bytes] | Trace, root_pid: int | None, initial_cwd: str = "/"
) -> Behaviour:
    if isinstance(lines, Trace):
        lines = lines.lines
    return build_behaviour(parse_trace(lines), root_pid, initial_cwd)


def started(root: int, filename: str = "/tmp/sample", argv: list[str] | None = None) -> Trace:
    """A trace in which the agent's child ``root`` has just become the sample."""
    trace = Trace()
    trace.enter(root, 59, comm="python3")
    trace.exec(root, filename, argv or [filename])
    trace.leave(root, 59, 0)
    return trace


# --- the benchmark's workload (bench/postprocess.py and the report ceiling test) -------------

BENCH_ROOT_PID = 500


def worker_round(trace: Trace, pid: int, n: int, root: int = BENCH_ROOT_PID) -> None:
    """One worker of the synthetic busy sample: forks, execs, writes 20 files, opens a TCP
    socket and connects out."""
    trace.fork(root, pid)
    trace.exec(pid, "/usr/bin/busybox", ["busybox", "sh", "-c", f"job {n}"], comm="busybox")
    for i in range(20):
        trace.syscall(pid, 257, [0xFFFFFF9C, 0x1000, 0x241, 0o644], 3, comm="busybox")
        trace.open(pid, f"/tmp/work/{n}/file-{i}.dat", flags=0x8241, mode=0o644, comm="busybox")
        trace.syscall(pid, 1, [3, 0x2000, 4096], 4096, comm="busybox")
        trace.syscall(pid, 3, [3], 0, comm="busybox")
    trace.syscall(pid, 41, [2, 1, 0], 4, comm="busybox")
    trace.enter(pid, 42, [4, 0x7FFF0000, 16], comm="busybox")
    trace.add(
        pid,
        "connect",
        f"fam=2 port={wire_port(4444)} addr={wire_ipv4('198.51.100.7')} a6hi=0x0 a6lo=0x0 len=16",
        comm="busybox",
    )
    trace.add(pid, "connect_r", "ret=0", comm="busybox")
    trace.leave(pid, 42, 0, comm="busybox")
    trace.exit(pid, 0, comm="busybox")


def synthetic_trace(path: Path, megabytes: float | None = None, workers: int | None = None) -> int:
    """Write the benchmark's trace to ``path``: a sample forking workers (pids reused past
    30000) until the file holds ``megabytes`` MiB, or ``workers`` of them; returns its size."""
    trace = started(BENCH_ROOT_PID, "/tmp/sample", ["/tmp/sample"])
    written = 0
    n = 0
    limit = int(megabytes * (1 << 20)) if megabytes is not None else None
    with path.open("wb") as handle:
        while (written < limit) if limit is not None else (n < (workers or 0)):
            worker_round(trace, 1000 + n % 30000, n)
            n += 1
            if len(trace.lines) > 5000:
                chunk = b"\n".join(trace.lines) + b"\n"
                handle.write(chunk)
                written += len(chunk)
                trace.lines.clear()
        chunk = b"\n".join(trace.lines) + b"\n"
        handle.write(chunk)
        written += len(chunk)
    return written


def bench_results(out: Path, megabytes: float | None = None, workers: int | None = None) -> int:
    """A results directory (``run.json``, sample copy, the benchmark's ``trace.log``) in
    ``out``, as ``aasee reprocess`` takes it; returns the trace's size."""
    from aasee.processing.run_meta import SAMPLE_COPY, RunMeta, write_run_meta

    out.mkdir(parents=True, exist_ok=True)
    size = synthetic_trace(out / "trace.log", megabytes, workers)
    (out / SAMPLE_COPY).write_bytes(b"#!/bin/sh\nwhile true; do job; done\n")
    meta = RunMeta(analysis_id="bench", sample_name="sample", root_pid=BENCH_ROOT_PID, timeout=60)
    write_run_meta(meta, out)
    return size
