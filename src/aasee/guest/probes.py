"""The kernel probes the in-guest tracer arms, written for one architecture's profile.

The agent only writes what it is given into tracefs: the probe lines, the events to enable
and their filters all come from here, so the agent knows no architecture. Where the kernel
has already copied an argument (``struct filename``, ``sockaddr_storage``) the probe sits on
the function receiving the copy: reading user memory from a probe fails whenever the page is
not mapped yet, which is the rule for a freshly forked child.

Event names and field names are what the trace parser reads (``processing/trace_parser``);
a second probe for one event (another ABI's syscall entry) is named ``<event>__<suffix>``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aasee.arch.profile import ArchProfile, ProbeSpec, TracerAbi

__all__ = [
    "EXEC_FILTER",
    "FLOOD_BUDGET",
    "GROUP",
    "RAW_SYSCALL_EVENTS",
    "SEAL_FIELD",
    "TRACEPOINTS",
    "TracerPlan",
    "new_seal",
    "plan_for",
    "sealed_events",
]

GROUP = "ae"
SEAL_FIELD = "k"
FLOOD_BUDGET = 10_000
"""Events per task and second (raw syscalls included) before the flood guard filters the
task out: well above what a program that is not looping over the file system makes here."""
EXEC_FILTER = '!(filename ~ "*\n*")'
"""Kernel event filter: exec'd file names holding a line break are not printed raw."""
TRACEPOINTS = (
    "sched/sched_process_fork",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
)
RAW_SYSCALL_EVENTS = ("raw_syscalls/sys_enter", "raw_syscalls/sys_exit")
# Probes whose return value is recorded as <event>_r.
RETPROBES = frozenset({"open", "connect", "unlink", "rename"})


@dataclass(frozen=True)
class TracerPlan:
    """What the agent writes into tracefs to trace one process tree on this architecture."""

    probes: tuple[str, ...]
    """Lines for ``kprobe_events``."""
    events: tuple[str, ...]
    """Event directories (under ``events/``) to enable."""
    filters: tuple[tuple[str, str], ...]
    """(event, filter expression) pairs written before enabling."""
    flood_budget: int = 0
    """Events a task may make in one second before the guest filters its later ones out."""


def _kname(arg: str) -> str:
    # struct filename starts with the kernel copy of the path: no user-memory fault possible.
    return f"+0(+0({arg})):string"


def _ksockaddr(arg: str) -> str:
    return (
        f"fam=+0({arg}):u16 port=+2({arg}):u16 addr=+4({arg}):u32 "
        f"a6hi=+8({arg}):x64 a6lo=+16({arg}):x64"
    )


def _common_probes(abi: TracerAbi) -> list[ProbeSpec]:
    a = abi.function_args
    s = abi.syscall_args
    word = f"s{abi.word_bits}"

    def wrapper(name: str) -> str:
        return abi.syscall_wrapper.format(name=name)

    probes = [
        ProbeSpec(
            "open",
            "do_filp_open",
            f"dfd={a[0]}:s32 path={_kname(a[1])} flags=+0({a[2]}):x32 mode=+4({a[2]}):x16",
            retprobe=True,
        ),
        ProbeSpec("unlink", "do_unlinkat", f"dfd={a[0]}:s32 path={_kname(a[1])}", retprobe=True),
        ProbeSpec("rmdir", "do_rmdir", f"dfd={a[0]}:s32 path={_kname(a[1])}"),
        ProbeSpec("mkdir", "do_mkdirat", f"dfd={a[0]}:s32 path={_kname(a[1])} mode={a[2]}:x16"),
        ProbeSpec(
            "rename",
            "do_renameat2",
            f"olddfd={a[0]}:s32 old={_kname(a[1])} newdfd={a[2]}:s32 "
            f"new={_kname(a[3])} flags={a[4]}:x32",
            retprobe=True,
        ),
        ProbeSpec(
            "symlink", "do_symlinkat", f"target={_kname(a[0])} dfd={a[1]}:s32 path={_kname(a[2])}"
        ),
        ProbeSpec(
            "link",
            "do_linkat",
            f"olddfd={a[0]}:s32 old={_kname(a[1])} newdfd={a[2]}:s32 new={_kname(a[3])}",
        ),
        ProbeSpec("chmod", wrapper("chmod"), f"path=+0({s[0]}):ustring mode={s[1]}:x16"),
        ProbeSpec(
            "fchmodat",
            wrapper("fchmodat"),
            f"dfd={s[0]}:s32 path=+0({s[1]}):ustring mode={s[2]}:x16",
        ),
        ProbeSpec("fchmod", wrapper("fchmod"), f"fd={s[0]}:s32 mode={s[1]}:x16"),
        ProbeSpec("chdir", wrapper("chdir"), f"path=+0({s[0]}):ustring"),
        ProbeSpec(
            "connect",
            "__sys_connect_file",
            f"{_ksockaddr(a[1])} len={a[2]}:s32",
            retprobe=True,
        ),
        ProbeSpec("bind", "inet_bind", f"{_ksockaddr(a[1])} len={a[2]}:s32"),
        ProbeSpec("bind6", "inet6_bind", f"{_ksockaddr(a[1])} len={a[2]}:s32"),
        ProbeSpec(
            "udpsend",
            "udp_sendmsg",
            f"daddr=+0({a[0]}):u32 dport=+12({a[0]}):u16 {_ksockaddr('+0(' + a[1] + ')')} "
            f"size={a[2]}:u{abi.word_bits}",
        ),
        ProbeSpec("ptrace", wrapper("ptrace"), f"request={s[0]}:{word} pid={s[1]}:s32"),
        ProbeSpec("exit", "do_exit", f"code={a[0]}:{word}"),
    ]
    return [p for p in probes if not _missing(abi, p)]


def _missing(abi: TracerAbi, probe: ProbeSpec) -> bool:
    return any(probe.symbol == abi.syscall_wrapper.format(name=n) for n in abi.missing_syscalls)


def _definitions(probe: ProbeSpec, word_bits: int, seal: int | None) -> list[str]:
    # The seal, an immediate value printed last, ends every record of a probe: a line break
    # in a string the sample controls cannot end the record early, so the lines it writes
    # after it cannot pass for records (see trace_parser.unseal).
    end = f" {SEAL_FIELD}=\\{seal:#x}:x32" if seal is not None else ""
    lines = [f"p:{GROUP}/{probe.event} {probe.symbol} {probe.fetch}{end}"]
    if probe.retprobe:
        # $retval is a register, as wide as the kernel's words.
        lines.append(f"r:{GROUP}/{probe.event}_r {probe.symbol} ret=$retval:s{word_bits}{end}")
    return lines


def sealed_events(plan: TracerPlan) -> list[str]:
    """The names of the probe events a plan defines (those whose records carry the seal)."""
    return [event.split("/", 1)[1] for event in plan.events if event.startswith(f"{GROUP}/")]


def new_seal() -> int:
    """A run's seal: 32 random bits, the top one set (so it always prints 8 hex digits)."""
    return secrets.randbits(31) | 1 << 31


def plan_for(
    profile: ArchProfile,
    raw_syscalls: bool = True,
    seal: int | None = None,
    flood_budget: int = FLOOD_BUDGET,
) -> TracerPlan:
    """Everything the tracer arms on a guest of ``profile``; with ``seal``, every probe's
    record ends with ``k=<seal>``."""
    abi = profile.tracer
    probes = [*_common_probes(abi), *abi.argv_probes, *abi.extra_probes]
    lines: list[str] = []
    events: list[str] = []
    filters: list[tuple[str, str]] = []
    for probe in probes:
        for line in _definitions(probe, abi.word_bits, seal):
            lines.append(line)
            events.append(line.split()[0].split(":", 1)[1])
        if probe.filter:
            filters.append((f"{GROUP}/{probe.event}", probe.filter))
    events += TRACEPOINTS
    if seal is not None:
        # An exec'd file name is printed raw by the tracepoint, which takes no seal: one
        # holding a line break is left to the sealed probes (its open and its argv).
        filters.append(("sched/sched_process_exec", EXEC_FILTER))
    if raw_syscalls:
        events += RAW_SYSCALL_EVENTS
    return TracerPlan(tuple(lines), tuple(events), tuple(filters), flood_budget)
