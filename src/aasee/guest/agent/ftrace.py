"""In-guest kernel tracer built on ftrace: kprobes on syscall entry points and sched tracepoints.

Runs inside the guest as part of the agent (standard library only). Nothing here attaches to
the sample: the kernel records events for the sample's process tree (``set_event_pid`` with
``event-fork``), so the sample sees ``TracerPid: 0`` and may ``ptrace`` itself.

The probes read syscall arguments from the ``pt_regs`` the x86-64 syscall wrappers receive:
di=112, si=104, dx=96, r10=56, r8=72, r9=64 bytes into the structure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

TRACEFS = "/sys/kernel/tracing"
GROUP = "ae"

DI = "+112($arg1)"
SI = "+104($arg1)"
DX = "+96($arg1)"
ARGV_MAX = 8


def _ustr(reg: str) -> str:
    return f"+0({reg}):ustring"


def _kname(arg: str) -> str:
    # struct filename starts with the kernel copy of the path: no user-memory fault possible.
    return f"+0(+0({arg})):string"


def _ksockaddr(arg: str) -> str:
    return (
        f"fam=+0({arg}):u16 port=+2({arg}):u16 addr=+4({arg}):u32 "
        f"a6hi=+8({arg}):x64 a6lo=+16({arg}):x64"
    )


# name -> (kernel symbol, fetch args); a kretprobe named <name>_r records the result.
# Where the kernel has already copied an argument (struct filename, sockaddr_storage) the probe
# sits on the function that receives the copy: reading user memory from a probe fails whenever
# the page is not yet mapped, which is the rule for a freshly forked child.
PROBES: dict[str, tuple[str, str]] = {
    "open": (
        "do_filp_open",
        f"dfd=$arg1:s32 path={_kname('$arg2')} flags=+0($arg3):x32 mode=+4($arg3):x16",
    ),
    "unlink": ("do_unlinkat", f"dfd=$arg1:s32 path={_kname('$arg2')}"),
    "rmdir": ("do_rmdir", f"dfd=$arg1:s32 path={_kname('$arg2')}"),
    "mkdir": ("do_mkdirat", f"dfd=$arg1:s32 path={_kname('$arg2')} mode=$arg3:x16"),
    "rename": (
        "do_renameat2",
        f"olddfd=$arg1:s32 old={_kname('$arg2')} newdfd=$arg3:s32 "
        f"new={_kname('$arg4')} flags=$arg5:x32",
    ),
    "symlink": ("do_symlinkat", f"target={_kname('$arg1')} dfd=$arg2:s32 path={_kname('$arg3')}"),
    "link": (
        "do_linkat",
        f"olddfd=$arg1:s32 old={_kname('$arg2')} newdfd=$arg3:s32 new={_kname('$arg4')}",
    ),
    "chmod": ("__x64_sys_chmod", f"path={_ustr(DI)} mode={SI}:x16"),
    "fchmodat": ("__x64_sys_fchmodat", f"dfd={DI}:s32 path={_ustr(SI)} mode={DX}:x16"),
    "fchmod": ("__x64_sys_fchmod", f"fd={DI}:s32 mode={SI}:x16"),
    "chdir": ("__x64_sys_chdir", f"path={_ustr(DI)}"),
    # After exec the new stack holds argc, argv[] and the strings, written by the kernel.
    "argv": (
        "start_thread",
        "argc=+u0($arg3):u64 "
        + " ".join(f"a{i}=+0(+u{8 * (i + 1)}($arg3)):ustring" for i in range(ARGV_MAX)),
    ),
    "connect": ("__sys_connect_file", f"{_ksockaddr('$arg2')} len=$arg3:s32"),
    "bind": ("inet_bind", f"{_ksockaddr('$arg2')} len=$arg3:s32"),
    "bind6": ("inet6_bind", f"{_ksockaddr('$arg2')} len=$arg3:s32"),
    "udpsend": (
        "udp_sendmsg",
        f"daddr=+0($arg1):u32 dport=+12($arg1):u16 {_ksockaddr('+0($arg2)')} size=$arg3:u64",
    ),
    "ptrace": ("__x64_sys_ptrace", f"request={DI}:s64 pid={SI}:s32"),
    "exit": ("do_exit", "code=$arg1:s64"),
}
RETPROBES = ("open", "connect", "unlink", "rename")
TRACEPOINTS = (
    "sched/sched_process_fork",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
)
RAW_SYSCALLS = ("raw_syscalls/sys_enter", "raw_syscalls/sys_exit")


def _write(relative: str, value: str, append: bool = False) -> None:
    # os.open, not open(): Python seeks to the end of files opened for appending, and tracefs
    # control files reject lseek with EINVAL.
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(os.path.join(TRACEFS, relative), flags)
    try:
        os.write(fd, (value + "\n").encode())
    finally:
        os.close(fd)


def probe_definitions() -> list[str]:
    lines = [f"p:{GROUP}/{name} {symbol} {args}" for name, (symbol, args) in PROBES.items()]
    lines += [f"r:{GROUP}/{name}_r {PROBES[name][0]} ret=$retval:s64" for name in RETPROBES]
    return lines


class Tracer:
    """Arms ftrace for one process tree and streams the text trace through ``sink``."""

    def __init__(
        self, sink: Callable[[bytes], None], raw_syscalls: bool = True, buffer_kb: int = 16384
    ) -> None:
        self._sink = sink
        self._raw = raw_syscalls
        self._buffer_kb = buffer_kb
        self._reader: threading.Thread | None = None
        self.armed = False
        self.enabled = False
        self.errors: list[str] = []

    def arm(self) -> None:
        """Define the probes and enable every event, filtered to nobody yet.

        The filter holds only pid 0 (the idle task, which makes no syscalls): an empty
        ``set_event_pid`` would mean "trace everyone", the agent included. Arming does all
        the slow tracefs writes up front, so a ready snapshot saved after it restores with
        the tracer armed and following a sample costs one write.
        """
        _write("tracing_on", "0")
        _write("set_event", "")
        _write("set_event_pid", "0")
        _write("kprobe_events", "")
        _write("trace", "")
        _write("buffer_size_kb", str(self._buffer_kb))
        _write("trace_clock", "mono")
        _write("options/record-tgid", "1")
        _write("options/event-fork", "1")
        for definition in probe_definitions():
            try:
                _write("kprobe_events", definition, append=True)
            except OSError as exc:
                self.errors.append(f"probe rejected: {definition.split()[0]}: {exc}")
        events = [f"{GROUP}/{line.split()[0].split('/')[1]}" for line in probe_definitions()]
        events += list(TRACEPOINTS)
        if self._raw:
            events += list(RAW_SYSCALLS)
        for event in events:
            try:
                _write(f"events/{event}/enable", "1")
            except OSError as exc:
                self.errors.append(f"event not enabled: {event}: {exc}")
        _write("tracing_on", "1")
        # trace_pipe reports EOF while tracing is off, so the reader starts only now.
        self._reader = threading.Thread(target=self._pump, name="trace-pump", daemon=True)
        self._reader.start()
        self.armed = True
        self.enabled = True

    def matches(self, raw_syscalls: bool, buffer_kb: int) -> bool:
        return self.armed and self._raw == raw_syscalls and self._buffer_kb == buffer_kb

    def follow(self, pid: int) -> None:
        """Record this pid and, through event-fork, every descendant it creates."""
        _write("set_event_pid", str(pid), append=True)

    def _pump(self) -> None:
        # trace_pipe blocks until data arrives and returns EOF once tracing_on is 0 and the
        # buffer is drained, which is what makes stop() lossless.
        with open(os.path.join(TRACEFS, "trace_pipe"), "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    return
                self._sink(chunk)

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop recording, drain what the kernel buffered, and report losses."""
        if not self.armed:
            return {"lost": 0}
        _write("tracing_on", "0")
        if self._reader is not None:
            self._reader.join(timeout)
        # trace_pipe stops at EOF as soon as tracing is off; whatever it had not handed out yet
        # is still in the ring buffer, and the (non-consuming) trace file shows exactly that.
        with open(os.path.join(TRACEFS, "trace"), "rb") as rest:
            while True:
                chunk = rest.read(65536)
                if not chunk:
                    break
                self._sink(chunk)
        lost = 0
        cpus = os.listdir(os.path.join(TRACEFS, "per_cpu"))
        for cpu in cpus:
            try:
                with open(os.path.join(TRACEFS, "per_cpu", cpu, "stats")) as stats:
                    for line in stats:
                        key, _, value = line.partition(":")
                        if key.strip() in ("overrun", "dropped events"):
                            lost += int(value.strip() or 0)
            except (OSError, ValueError):
                continue
        self.armed = False
        return {"lost": lost}
