"""Host-side eBPF tracer of a container's processes (``bpftrace``), for the LXC sandbox.

Owns the bpftrace program that traces every task of one pid namespace from the host and the
``bpftrace`` process running it. A container shares the host kernel, so the in-guest ftrace
tracer cannot be used; this one prints the exact text of the guest's ``trace.log`` (see
:mod:`aasee.processing.trace_parser` and :mod:`aasee.guest.probes`), so the parser, the
behaviour model, the signatures and the report work unchanged on it.

How the guest's events are made from tracepoints (kprobes are not available on every host):

* ``sys_enter`` / ``sys_exit``: ``raw_syscalls`` tracepoints, printed as ftrace prints them.
* probe events (``open``, ``unlink``, ``rename``, ``connect``...): the arguments are kept at
  syscall entry and the event is printed at the syscall's exit, from its ``syscalls:sys_exit_*``
  tracepoint, followed by its ``*_r`` result and by the raw ``sys_exit`` line (the raw exit
  tracepoint skips those syscalls) so the order is the guest's: event, result, exit. User
  strings are read at the exit because the kernel has faulted their pages in by then (reading
  them at entry fails on pages a fresh process has not touched yet).
* ``argv``: read from the new user stack at ``sched_process_exec`` (argc, then the pointers).
* ``sched_process_fork``: the tracepoint runs in the parent, which cannot see the child's pid
  in the namespace (``rawtracepoint`` and ``kfunc`` are not available in bpftrace 0.17 here),
  so the parent's side is kept in a map and the line is printed by the child at its first
  event (the return of its clone, or its exit), stamped with the fork's time.
* ``exit``: ``task->exit_code`` at ``sched_process_exit`` (set by ``do_exit`` before it).

Pids are those seen inside the container's pid namespace; the container's init (the sandbox
agent, tgid 1 there) is not traced. bpftrace writes per-CPU buffers in the order it reads
them, not in time order, and prints the deferred fork lines late: every printf therefore
goes out framed (a random token unknown to the traced processes, the CPU, the sort time) and
:class:`HostTracer` restores time order within a short window before writing the trace.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import platform
import re
import resource
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

__all__ = [
    "HostTracer",
    "HostTracerError",
    "TracerStats",
    "bpftrace_program",
    "pidns_inode",
]

BPFTRACE: Final = "bpftrace"
STRLEN: Final = 200
"""Longest string bpftrace 0.17 reads (paths and argv are cut there; the guest's are not)."""
ATTACH_TIMEOUT: Final = 60.0
REORDER_WINDOW: Final = 1.0
"""Seconds a record is held back so that those read later from another CPU sort before it."""

_X86_64: Final = frozenset({"x86_64", "amd64"})
_TS_COMPAT: Final = 2  # thread_info.status: the task is in a 32-bit (i386) syscall
_AT_FDCWD: Final = "-100"
_AT_REMOVEDIR: Final = 0x200

# x86-64 syscall numbers of the syscalls the guest's probes cover.
_NR: Final[dict[str, int]] = {
    "open": 2,
    "openat": 257,
    "openat2": 437,
    "creat": 85,
    "unlink": 87,
    "unlinkat": 263,
    "rmdir": 84,
    "mkdir": 83,
    "mkdirat": 258,
    "rename": 82,
    "renameat": 264,
    "renameat2": 316,
    "symlink": 88,
    "symlinkat": 266,
    "link": 86,
    "linkat": 265,
    "chmod": 90,
    "fchmodat": 268,
    "fchmodat2": 452,
    "fchmod": 91,
    "chdir": 80,
    "connect": 42,
    "bind": 49,
    "sendto": 44,
    "sendmsg": 46,
    "ptrace": 101,
}
_EXECVE: Final = (59, 322)  # execve, execveat
_EXECVE_I386: Final = (11, 358)
_CLONES: Final = (56, 57, 58, 435)  # clone, fork, vfork, clone3: the child returns 0
_CLONES_I386: Final = (120, 2, 190, 435)


class HostTracerError(RuntimeError):
    """bpftrace could not be started, or this host cannot run the tracer."""


def pidns_inode(pid: int) -> int:
    """The inode of the pid namespace of host process ``pid`` (what :meth:`start` takes)."""
    return os.stat(f"/proc/{pid}/ns/pid").st_ino


# --- the bpftrace program ------------------------------------------------------------------
# A record is one trace line, printed by one or more printf (a 200-byte string and the rest
# of a line do not fit the 512-byte BPF stack together). Every printf is framed:
#   <SEP>S<cpu> <sort ns>;<text>\x1f   first printf of a record
#   <SEP>C<cpu>;<text>\x1f             the next ones (same CPU, so same per-CPU buffer)
# <SEP> is \x1e and a random token: traced processes control strings, not the token. The text
# of a printf ends at its last \x1f, so bpftrace's own messages in between are set apart.

_HEADER: Final = "%16s-%-7d (%7d) [%03d] ..... %5lu.%06lu: "
_HEADER_ARGS: Final = ("comm", "$p", "$g", "cpu", "$t / 1000000000", "($t % 1000000000) / 1000")

Segment = tuple[str, tuple[str, ...], bool]
"""(format text, argument expressions, whether it holds a bpftrace ``str()``)."""


def _lit(text: str, *args: str) -> Segment:
    return (text, args, False)


def _string(expr: str) -> Segment:
    return ("%s", (f"str(uptr({expr}))",), True)


def _quoted(name: str, expr: str) -> list[Segment]:
    return [_lit(f' {name}=\\"'), _string(expr), _lit('\\"')]


def _record(
    sep: str,
    segments: Iterable[Segment],
    key: str = "$t",
    header: tuple[str, ...] = _HEADER_ARGS,
) -> list[str]:
    """The printf statements of one record: the header and the segments, each ``str()``
    starting a printf of its own."""
    printfs: list[tuple[str, list[str]]] = [(_HEADER, list(header))]
    alone = False
    for text, args, is_str in segments:
        if is_str or alone:
            # A string has a printf of its own: with more it would not fit the stack.
            printfs.append(("", []))
        fmt, values = printfs[-1]
        printfs[-1] = (fmt + text, values + list(args))
        alone = is_str
    out = []
    for i, (fmt, values) in enumerate(printfs):
        frame = f"{sep}S%d %lu;" if i == 0 else f"{sep}C%d;"
        lead = ["cpu", key] if i == 0 else ["cpu"]
        out.append(f'printf("{frame}{fmt}\\x1f", {", ".join(lead + values)});')
    return out


def _event(sep: str, name: str, probe: str | None, segments: list[Segment]) -> list[str]:
    prefix = f"{name}: ({probe})" if probe else f"{name}:"
    return _record(sep, [_lit(prefix), *segments, _lit("\\n")])


def _sockaddr(ptr: str) -> list[Segment]:
    # The guest probe's fields: raw memory of the sockaddr read as u16, u16, u32, x64, x64.
    return [
        _lit(
            " fam=%u port=%u addr=%u a6hi=0x%lx a6lo=0x%lx",
            f"*(uint16 *)uptr({ptr})",
            f"*(uint16 *)uptr({ptr} + 2)",
            f"*(uint32 *)uptr({ptr} + 4)",
            f"*(uint64 *)uptr({ptr} + 8)",
            f"*(uint64 *)uptr({ptr} + 16)",
        )
    ]


def _arg(i: int) -> str:
    return f"$a.{i + 1}"


def _s32(i: int) -> str:
    return f"(int32){_arg(i)}"


def _open(sep: str, probe: str, dfd: str, path: str, flags: str, mode: str) -> list[str]:
    # The guest reads struct open_flags as do_filp_open gets it: flags masked to
    # VALID_OPEN_FLAGS, O_LARGEFILE forced, O_CLOEXEC stripped, O_PATH keeping only
    # O_DIRECTORY|O_NOFOLLOW|O_PATH, O_DSYNC with __O_SYNC; mode only when creating, with S_IFREG.
    body = [
        f"$fl = (((uint64){flags}) & 0x77ffc3) | 0x8000;",
        "if ($fl & 0x100000) { $fl = $fl | 0x1000; }",
        "if ($fl & 0x200000) { $fl = $fl & 0x230000; }",
        "$md = (uint64)0;",
        f"if ($fl & 0x400040) {{ $md = (((uint64){mode}) & 0xfff) | 0x8000; }}",
    ]
    body += _event(
        sep,
        "open",
        probe,
        [
            _lit(" dfd=%d", dfd),
            *_quoted("path", path),
            _lit(" flags=0x%lx mode=0x%lx", "$fl", "$md"),
        ],
    )
    body += _event(sep, "open_r", probe, [_lit(" ret=%ld", "$ret")])
    return body


def _two_paths(old: tuple[str, str], new: tuple[str, str]) -> list[Segment]:
    return [
        _lit(" olddfd=%d", old[0]),
        *_quoted("old", old[1]),
        _lit(" newdfd=%d", new[0]),
        *_quoted("new", new[1]),
    ]


def _udp_socket(fd: str, then: list[str]) -> list[str]:
    """``then`` run with ``$sk`` set when ``fd`` is an AF_INET UDP socket (what udp_sendmsg,
    the guest's probe, handles)."""
    return [
        f"$fd = (int64){fd};",
        "$fdt = curtask->files->fdt;",
        "if ($fd >= 0 && $fd < (int64)$fdt->max_fds) {",
        "$file = *($fdt->fd + $fd);",
        "if ($file != 0 && ($file->f_inode->i_mode & 0xf000) == 0xc000) {",
        "$sk = ((struct socket *)$file->private_data)->sk;",
        "if ($sk->__sk_common.skc_family == 2 && $sk->sk_protocol == 17) {",
        *then,
        "}",
        "}",
        "}",
    ]


def _udpsend(sep: str, probe: str, sockaddr: str, size: str) -> list[str]:
    return _event(
        sep,
        "udpsend",
        probe,
        [
            _lit(
                " daddr=%u dport=%u",
                "$sk->__sk_common.skc_daddr",
                "$sk->__sk_common.skc_dport",
            ),
            *_sockaddr(sockaddr),
            _lit(" size=%ld", size),
        ],
    )


def _syscall_events(sep: str, name: str) -> list[str]:
    """The statements printing the probe events of syscall ``name`` at its exit; the stashed
    arguments are ``$a.1`` to ``$a.6``."""
    probe = f"sys_exit_{name}"
    cwd = _AT_FDCWD
    ev = _event
    if name == "open":
        return _open(sep, probe, cwd, _arg(0), _arg(1), _arg(2))
    if name == "openat":
        return _open(sep, probe, _s32(0), _arg(1), _arg(2), _arg(3))
    if name == "openat2":
        how = _arg(2)
        return _open(
            sep, probe, _s32(0), _arg(1), f"*(uint64 *)uptr({how})", f"*(uint64 *)uptr({how} + 8)"
        )
    if name == "creat":
        return _open(sep, probe, cwd, _arg(0), "0x241", _arg(1))
    if name in ("unlink", "unlinkat", "rmdir"):
        dfd, path = (cwd, _arg(0)) if name != "unlinkat" else (_s32(0), _arg(1))
        unlink = ev(sep, "unlink", probe, [_lit(" dfd=%d", dfd), *_quoted("path", path)])
        unlink += ev(sep, "unlink_r", probe, [_lit(" ret=%ld", "$ret")])
        rmdir = ev(sep, "rmdir", probe, [_lit(" dfd=%d", dfd), *_quoted("path", path)])
        if name == "unlink":
            return unlink
        if name == "rmdir":
            return rmdir
        return [f"if ({_arg(2)} & {_AT_REMOVEDIR:#x}) {{", *rmdir, "} else {", *unlink, "}"]
    if name in ("mkdir", "mkdirat"):
        dfd, path, mode = (
            (cwd, _arg(0), _arg(1)) if name == "mkdir" else (_s32(0), _arg(1), _arg(2))
        )
        return ev(
            sep,
            "mkdir",
            probe,
            [_lit(" dfd=%d", dfd), *_quoted("path", path), _lit(" mode=0x%lx", f"{mode} & 0xffff")],
        )
    if name in ("rename", "renameat", "renameat2"):
        if name == "rename":
            old, new, flags = (cwd, _arg(0)), (cwd, _arg(1)), "0"
        else:
            old, new = (_s32(0), _arg(1)), (_s32(2), _arg(3))
            flags = f"(uint32){_arg(4)}" if name == "renameat2" else "0"
        body = ev(
            sep,
            "rename",
            probe,
            [*_two_paths(old, new), _lit(" flags=0x%x", flags)],
        )
        return body + ev(sep, "rename_r", probe, [_lit(" ret=%ld", "$ret")])
    if name in ("symlink", "symlinkat"):
        dfd, path = (cwd, _arg(1)) if name == "symlink" else (_s32(1), _arg(2))
        return ev(
            sep,
            "symlink",
            probe,
            [*_quoted("target", _arg(0)), _lit(" dfd=%d", dfd), *_quoted("path", path)],
        )
    if name in ("link", "linkat"):
        if name == "link":
            old, new = (cwd, _arg(0)), (cwd, _arg(1))
        else:
            old, new = (_s32(0), _arg(1)), (_s32(2), _arg(3))
        return ev(sep, "link", probe, _two_paths(old, new))
    if name == "chmod":
        return ev(
            sep,
            "chmod",
            probe,
            [*_quoted("path", _arg(0)), _lit(" mode=0x%lx", f"{_arg(1)} & 0xffff")],
        )
    if name in ("fchmodat", "fchmodat2"):
        return ev(
            sep,
            "fchmodat",
            probe,
            [
                _lit(" dfd=%d", _s32(0)),
                *_quoted("path", _arg(1)),
                _lit(" mode=0x%lx", f"{_arg(2)} & 0xffff"),
            ],
        )
    if name == "fchmod":
        return ev(sep, "fchmod", probe, [_lit(" fd=%d mode=0x%lx", _s32(0), f"{_arg(1)} & 0xffff")])
    if name == "chdir":
        return ev(sep, "chdir", probe, _quoted("path", _arg(0)))
    if name == "connect":
        body = ev(sep, "connect", probe, [*_sockaddr(_arg(1)), _lit(" len=%d", _s32(2))])
        # The guest prints the int result of __sys_connect_file as an unsigned 32-bit value.
        return body + ev(sep, "connect_r", probe, [_lit(" ret=%u", "(uint32)$ret")])
    if name == "bind":
        # The guest probes inet_bind and inet6_bind: AF_INET and AF_INET6 binds only.
        fam = f"*(uint16 *)uptr({_arg(1)})"
        segments = [*_sockaddr(_arg(1)), _lit(" len=%d", _s32(2))]
        return [
            f"$fam = {fam};",
            "if ($fam == 2) {",
            *ev(sep, "bind", probe, segments),
            "} else { if ($fam == 10) {",
            *ev(sep, "bind6", probe, segments),
            "} }",
        ]
    if name == "sendto":
        return _udp_socket(_arg(0), _udpsend(sep, probe, _arg(4), f"(int64){_arg(2)}"))
    if name == "sendmsg":
        # msg_name is the first member of the user's struct msghdr; the size sent is the result
        # (the guest's is the length asked for, which would need the iovec summed).
        return _udp_socket(
            _arg(0),
            [
                f"$name = *(uint64 *)uptr({_arg(1)});",
                *_udpsend(sep, probe, "$name", "$ret > 0 ? $ret : 0"),
            ],
        )
    if name == "ptrace":
        return ev(sep, "ptrace", probe, [_lit(" request=%ld pid=%d", f"(int64){_arg(0)}", _s32(1))])
    raise ValueError(name)


def _fork_line(sep: str) -> list[str]:
    """The deferred ``sched_process_fork`` of the current task, if its parent left one."""
    header = ("$f.4", "$f.1", "$f.2", "$f.3", "$f.0 / 1000000000", "($f.0 % 1000000000) / 1000")
    record = _record(
        sep,
        [
            _lit(
                "sched_process_fork: comm=%s pid=%d child_comm=%s child_pid=%d\\n",
                "$f.4",
                "$f.1",
                "comm",
                "$p",
            )
        ],
        key="$f.0",
        header=header,
    )
    return ["$f = @fork[tid];", "if ($f.0 != 0) {", "delete(@fork[tid]);", *record, "}"]


def _argv(sep: str) -> list[str]:
    # argc and the argv pointers are the first words of the new user stack (start_stack);
    # an i386 program's words are 32-bit and its record is argv__i386, as in the guest.
    lines = [
        "$sp = curtask->mm->start_stack;",
        f"$c = curtask->thread_info.status & {_TS_COMPAT};",
        "$n = $c ? (uint64)*(uint32 *)uptr($sp) : *(uint64 *)uptr($sp);",
        "if ($c) {",
        *_record(sep, [_lit("argv__i386: (sched_process_exec) argc=%ld", "$n")]),
        "} else {",
        *_record(sep, [_lit("argv: (sched_process_exec) argc=%ld", "$n")]),
        "}",
    ]
    for i in range(8):
        pointer = (
            f"$c ? (uint64)*(uint32 *)uptr($sp + {4 + 4 * i}) : *(uint64 *)uptr($sp + {8 + 8 * i})"
        )
        lines += [
            f"if ($n > {i}) {{",
            f"$q = {pointer};",
            f'printf("{sep}C%d; a{i}=\\"%s\\"\\x1f", cpu, str(uptr($q)));',
            "} else {",
            f'printf("{sep}C%d; a{i}=(fault)\\x1f", cpu);',
            "}",
        ]
    lines.append(f'printf("{sep}C%d;\\n\\x1f", cpu);')
    return lines


def bpftrace_program(
    pidns_inode: int,
    token: str = "0",
    level: int = 1,
    missing: Collection[str] = (),
    machine: str | None = None,
) -> str:
    """The bpftrace program tracing the tasks of the pid namespace ``pidns_inode``.

    ``level`` is the namespace's depth (1: a child of the host's namespace); ``token`` frames
    the records (see :class:`HostTracer`); ``missing`` names syscalls whose ``syscalls``
    tracepoints this kernel lacks (their raw exit is then printed by the raw tracepoint).
    Only for an x86-64 host: syscall numbers and the stack layout are that architecture's.
    """
    arch = machine or platform.machine()
    if arch not in _X86_64:
        raise HostTracerError(f"the host tracer supports x86-64 hosts only, not {arch}")
    if not re.fullmatch(r"[0-9a-f]{1,64}", token):
        raise ValueError("token must be lowercase hexadecimal")
    if level < 1:
        raise ValueError("the traced pid namespace must be a child namespace (level >= 1)")
    sep = f"\\x1e{token}"
    # numbers[level] of a struct pid: bpftrace 0.17 refuses to index its flexible array.
    offset = f"sizeof(struct pid) + {level} * sizeof(struct upid)"

    def upid(task: str) -> str:
        return f"((struct upid *)((uint64){task}->thread_pid + {offset}))"

    # The tasks of the namespace (and of namespaces nested in it), but not its init: the agent.
    pred = (
        f"/curtask->thread_pid->level >= {level} && "
        f"{upid('curtask')}->ns->ns.inum == {int(pidns_inode)} && "
        f"{upid('curtask->group_leader')}->nr != 1/"
    )
    prologue = [
        "$t = nsecs;",
        f"$p = {upid('curtask')}->nr;",
        f"$g = {upid('curtask->group_leader')}->nr;",
    ]
    names = [name for name in _NR if name not in missing]
    special = [_NR[name] for name in names]
    compat = f"(curtask->thread_info.status & {_TS_COMPAT})"

    def any_of(expr: str, values: Iterable[int]) -> str:
        return "(" + " || ".join(f"{expr} == {v}" for v in values) + ")"

    def probe(spec: str, body: list[str], predicate: str = pred) -> list[str]:
        return [f"{spec} {predicate} {{", *body, "}"]

    sys_exit = _record(sep, [_lit("sys_exit: NR %ld = %ld\\n", "$id", "$ret")])
    out = [
        f'BEGIN {{ printf("{sep}M;\\x1f"); }}',
        *probe(
            "tracepoint:raw_syscalls:sys_enter",
            [
                *prologue,
                # Copied once: the verifier refuses a second read through the context.
                "$id = args->id;",
                *(f"$r{i} = args->args[{i}];" for i in range(6)),
                *_record(
                    sep,
                    [
                        _lit(
                            "sys_enter: NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)\\n",
                            "$id",
                            *(f"$r{i}" for i in range(6)),
                        )
                    ],
                ),
                # Arguments of the syscalls printed at their exit (not for i386 syscalls: their
                # numbers are another table's and their syscalls tracepoints never fire).
                f"if (!{compat} && {any_of('$id', special)}) {{",
                "@sc[tid] = ((int64)$id, " + ", ".join(f"$r{i}" for i in range(6)) + ");",
                "}",
                f"if ({compat} ? {any_of('$id', _EXECVE_I386)} : "
                f"{any_of('$id', _EXECVE)}) {{ @xo[tid] = $p; }}",
            ],
        ),
        *probe(
            "tracepoint:raw_syscalls:sys_exit",
            [
                *prologue,
                "$id = args->id;",
                "$ret = args->ret;",
                f"if ($ret == 0 && ({compat} ? {any_of('$id', _CLONES_I386)} : "
                f"{any_of('$id', _CLONES)})) {{",
                *_fork_line(sep),
                "}",
                f"if ({compat} || !{any_of('$id', special)}) {{",
                *sys_exit,
                "}",
            ],
        ),
    ]
    for name in names:
        exit_line = _record(sep, [_lit(f"sys_exit: NR {_NR[name]} = %ld\\n", "$ret")])
        out += probe(
            f"tracepoint:syscalls:sys_exit_{name}",
            [
                *prologue,
                "$ret = args->ret;",
                "$a = @sc[tid];",
                "delete(@sc[tid]);",
                f"if ($a.0 == {_NR[name]}) {{",
                *_syscall_events(sep, name),
                "}",
                *exit_line,
            ],
        )
    out += probe(
        "tracepoint:sched:sched_process_fork",
        ["$t = nsecs;", *prologue[1:], "@fork[args->child_pid] = ($t, $p, $g, cpu, comm);"],
    )
    out += probe(
        "tracepoint:sched:sched_process_exec",
        [
            *prologue,
            *_argv(sep),
            # old_pid: the exec'ing thread's pid before it took over the leader's.
            "$old = args->old_pid;",
            "$o = $old == args->pid ? $p : @xo[$old];",
            "delete(@xo[$old]);",
            "delete(@xo[tid]);",
            f'printf("{sep}S%d %lu;{_HEADER}sched_process_exec: filename=\\x1f", '
            f"cpu, $t, {', '.join(_HEADER_ARGS)});",
            f'printf("{sep}C%d;%s\\x1f", cpu, str(args->filename));',
            f'printf("{sep}C%d; pid=%d old_pid=%d\\n\\x1f", cpu, $g, $o);',
        ],
    )
    out += probe(
        "tracepoint:sched:sched_process_exit",
        [
            *prologue,
            *_fork_line(sep),
            *_record(sep, [_lit("exit: (sched_process_exit) code=%d\\n", "curtask->exit_code")]),
            *_record(
                sep,
                [_lit("sched_process_exit: comm=%s pid=%d prio=%d\\n", "comm", "$p", "args->prio")],
            ),
            "delete(@xo[tid]);",
        ],
    )
    # The end marker: what bpftrace prints after it (its maps) is not trace.
    out.append(f'END {{ printf("{sep}E;\\x1f"); clear(@sc); clear(@xo); clear(@fork); }}')
    return "\n".join(out) + "\n"


# --- running bpftrace ----------------------------------------------------------------------
_LOST = re.compile(rb"Lost (\d+) events")
# Noise of bpftrace 0.17 on a working run: it cannot raise RLIMIT_MEMLOCK past what
# preexec set (harmless) and warns about the user pointers the program reads with uptr().
_IGNORED_STDERR = ("RLIMIT_MEMLOCK", "WARNING: Addrspace is not set")


@dataclass
class TracerStats:
    """What one tracing run produced."""

    bytes_written: int = 0
    records: int = 0
    lost_events: int = 0
    """Events bpftrace reported lost (its per-CPU buffers were full)."""
    broken_records: int = 0
    """Records missing a part (a lost event in their middle), written cut short."""
    returncode: int | None = None
    errors: list[str] = field(default_factory=list)


def _no_memlock_limit() -> None:
    # bpftrace 0.17 tries to raise RLIMIT_MEMLOCK itself and complains when it cannot;
    # maps and buffers need it on kernels that still charge BPF memory to it.
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(
            resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )


class _Pump:
    """Reads bpftrace's framed output, puts the records back in time order and writes them.

    A record is written once it is :data:`REORDER_WINDOW` old (CLOCK_MONOTONIC, bpftrace's
    ``nsecs``): by then the records other CPUs' buffers held from before it have been read.
    """

    def __init__(self, source: IO[bytes], sink: IO[bytes], token: str, window: float) -> None:
        self.source = source
        self.sink = sink
        self.sep = b"\x1e" + token.encode()
        self.window_ns = int(window * 1e9)
        self.stats = TracerStats()
        self.attached = threading.Event()
        self.ended = False
        self._heap: list[tuple[int, int, list[bytes]]] = []
        self._current: dict[bytes, list[bytes]] = {}
        self._seq = 0
        self.thread = threading.Thread(target=self._run, name="host-tracer-pump", daemon=True)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # reported by stop(); the trace so far is kept
            self.stats.errors.append(f"trace pump failed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                self._emit(None)
            with contextlib.suppress(OSError):
                self.sink.close()
            with contextlib.suppress(OSError):
                self.source.close()

    def _loop(self) -> None:
        fd = self.source.fileno()
        carry = b""
        while True:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                pieces = (carry + chunk).split(self.sep)
                carry = pieces.pop()
                # A last piece already closed by its terminator needs nothing more.
                if carry.endswith(b"\x1f"):
                    pieces.append(carry)
                    carry = b""
                for piece in pieces:
                    self._piece(piece)
            self._emit(time.monotonic_ns() - self.window_ns)
        if carry:
            self._piece(carry)

    def _piece(self, piece: bytes) -> None:
        if self.ended or not piece:
            return
        head, semicolon, rest = piece.partition(b";")
        end = rest.rfind(b"\x1f")
        if not semicolon or end < 0:
            # What bpftrace printed itself (before the first frame, or a message).
            self._messages(piece)
            return
        text, tail = rest[:end], rest[end + 1 :]
        if tail:
            self._messages(tail)
        kind = head[:1]
        if kind == b"S":
            cpu, _, key = head[1:].partition(b" ")
            parts = [text]
            self._current[cpu] = parts
            heapq.heappush(self._heap, (int(key), self._seq, parts))
            self._seq += 1
        elif kind == b"C":
            parts_of = self._current.get(head[1:])
            if parts_of is not None:
                parts_of.append(text)
        elif kind == b"M":
            self.attached.set()
        elif kind == b"E":
            self.ended = True

    def _messages(self, text: bytes) -> None:
        for match in _LOST.finditer(text):
            self.stats.lost_events += int(match[1])

    def _emit(self, before: int | None) -> None:
        heap = self._heap
        out = []
        while heap and (before is None or heap[0][0] < before):
            parts = heapq.heappop(heap)[2]
            record = b"".join(parts)
            if record.endswith(b"\n"):
                record = record[:-1]
            else:
                self.stats.broken_records += 1
            # One record per line: a line break a string holds is written as NUL (the
            # kernel's strings hold none), so no string can forge a record.
            out.append(record.replace(b"\n", b"\x00") + b"\n")
        if out:
            data = b"".join(out)
            self.sink.write(data)
            self.sink.flush()
            self.stats.records += len(out)
            self.stats.bytes_written += len(data)


class HostTracer:
    """One ``bpftrace`` tracing a container's pid namespace into a ``trace.log``.

    :meth:`start` returns once the probes are attached; :meth:`stop` (idempotent, safe on
    every path, also after a failed start) ends bpftrace and returns the run's
    :class:`TracerStats`. No ``__del__``: the owner calls :meth:`stop` in its cleanup.
    """

    def __init__(
        self,
        *,
        perf_pages: int = 1024,
        attach_timeout: float = ATTACH_TIMEOUT,
        stop_timeout: float = 20.0,
        window: float = REORDER_WINDOW,
        level: int = 1,
    ) -> None:
        self.perf_pages = perf_pages
        self.attach_timeout = attach_timeout
        self.stop_timeout = stop_timeout
        self.window = window
        self.level = level
        self.stderr_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pump: _Pump | None = None
        self._stats: TracerStats | None = None

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the tracer cannot run on this host, or None if it can."""
        if platform.machine() not in _X86_64:
            return f"host architecture {platform.machine()} is not x86-64"
        if shutil.which(BPFTRACE) is None:
            return "bpftrace is not installed"
        if os.geteuid() != 0:
            return "bpftrace needs root"
        if not Path("/sys/kernel/btf/vmlinux").exists():
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
        return None

    @classmethod
    def available(cls) -> bool:
        """Whether bpftrace is installed and usable here (root, x86-64, kernel BTF)."""
        return cls.unavailable_reason() is None

    def start(self, pidns_inode: int, output: Path) -> None:
        """Trace the pid namespace ``pidns_inode`` into ``output`` (stderr next to it)."""
        if self._proc is not None or self._stats is not None:
            raise HostTracerError("this tracer has already been started")
        reason = self.unavailable_reason()
        if reason is not None:
            raise HostTracerError(reason)
        token = secrets.token_hex(8)
        program = bpftrace_program(
            pidns_inode, token, level=self.level, missing=_missing_syscalls()
        )
        env = {
            **os.environ,
            "BPFTRACE_STRLEN": str(STRLEN),
            "BPFTRACE_PERF_RB_PAGES": str(self.perf_pages),
            "BPFTRACE_MAP_KEYS_MAX": "65536",
        }
        self.stderr_path = output.with_name(output.name + ".stderr")
        sink = open(output, "wb")  # noqa: SIM115 - the pump owns and closes it
        try:
            with open(self.stderr_path, "wb") as stderr:
                # -B none: every printf reaches the pump at once, so the time order is
                # restored among records bpftrace read close together.
                self._proc = subprocess.Popen(
                    [BPFTRACE, "-B", "none", "-e", program],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    env=env,
                    preexec_fn=_no_memlock_limit,  # noqa: PLW1509 - only setrlimit
                    start_new_session=True,
                )
        except BaseException:
            sink.close()
            raise
        assert self._proc.stdout is not None
        self._pump = _Pump(self._proc.stdout, sink, token, self.window)
        self._pump.thread.start()
        deadline = time.monotonic() + self.attach_timeout
        while not self._pump.attached.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"bpftrace exited with {self._proc.returncode}"
                    if self._proc.returncode is not None
                    else f"bpftrace did not attach within {self.attach_timeout:.0f} s"
                )
                stats = self.stop()
                detail = "; ".join(stats.errors) or "no message"
                raise HostTracerError(f"{why}: {detail}")

    def stop(self) -> TracerStats:
        """End bpftrace (SIGINT, then SIGKILL after a timeout); the same stats every call."""
        if self._stats is not None:
            return self._stats
        proc, pump = self._proc, self._pump
        stats = pump.stats if pump is not None else TracerStats()
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    stats.errors.append("bpftrace did not stop on SIGINT: killed")
                    proc.kill()
                    proc.wait()
            stats.returncode = proc.returncode
        if pump is not None:
            pump.thread.join(self.stop_timeout)
            if pump.thread.is_alive():
                stats.errors.append("the trace pump did not finish")
        elif proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._read_stderr(stats)
        self._stats = stats
        return stats

    def _read_stderr(self, stats: TracerStats) -> None:
        if self.stderr_path is None:
            return
        try:
            text = self.stderr_path.read_bytes()
        except OSError:
            return
        for match in _LOST.finditer(text):
            stats.lost_events += int(match[1])
        for line in text.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line or _LOST.search(line.encode()) or any(i in line for i in _IGNORED_STDERR):
                continue
            if len(stats.errors) < 20:
                stats.errors.append(line)


def _missing_syscalls(tracefs: Iterable[Path] | None = None) -> set[str]:
    """Syscalls of :data:`_NR` without a ``syscalls:sys_exit_*`` tracepoint on this kernel
    (none known if tracefs is not mounted)."""
    roots = tracefs or (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
    for root in roots:
        events = root / "events" / "syscalls"
        if events.is_dir():
            return {name for name in _NR if not (events / f"sys_exit_{name}").is_dir()}
    return set()
