"""Sealed traces: line breaks in strings the sample controls cannot forge records.

Every probe record of the guest's stream ends with `` k=<seal>`` (a value the sample never
sees); the host writes each record on one line of ``trace.log``, inner line breaks as NUL,
and the parser turns them back. Forged lines inside a file name, an argument or a process
name stay in that string.
"""

from __future__ import annotations

import io

from aasee.arch import get_profile
from aasee.guest.probes import EXEC_FILTER, SEAL_FIELD, new_seal, plan_for, sealed_events
from aasee.guest.trace_seal import Unsealer
from aasee.processing.trace_parser import TraceEvent, TraceParser, read_trace_lines

SEAL = 0x9ABCDEF0
END = f" k={SEAL:#x}"
PROBES = sealed_events(plan_for(get_profile("x86_64"), seal=SEAL))


def _head(comm: str, pid: int) -> str:
    return f"{comm:>16}-{pid:<7} ({pid:>7}) [000] .....     5.000001: "


def _open(path: str, pid: int = 117, comm: str = "sample") -> str:
    return (
        _head(comm, pid) + f'open: (do_filp_open+0x0/0x160) dfd=-100 path="{path}" '
        f"flags=0x8241 mode=0x81a4{END}"
    )


FORGED_EXIT = _head("sshd", 1) + "sched_process_exit: comm=sshd pid=1 prio=120"
FORGED_OPEN = (
    _head("cron", 99) + 'open: (do_filp_open+0x0/0x160) dfd=-100 path="/etc/shadow" '
    "flags=0x0 mode=0x0 k=0x12345678"
)


def _through(stream: str, every: bool = False, chunk: int = 7) -> bytes:
    unsealer = Unsealer(SEAL, PROBES, every)
    data = stream.encode()
    out = b"".join(unsealer.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return out + unsealer.finish()


def _events(trace: bytes) -> list[TraceEvent]:
    return list(TraceParser().parse(read_trace_lines(io.BytesIO(trace))))


def test_a_forged_record_in_a_file_name_stays_in_the_name() -> None:
    name = f"/tmp/a\n{FORGED_EXIT}\n{FORGED_OPEN}\nz"
    trace = _through(_open(name) + "\n" + _open("/tmp/next") + "\n")
    assert trace.count(b"\n") == 2 and b"k=0x9abcdef0" not in trace  # one line each, unsealed
    events = _events(trace)
    assert [(e.event, e.pid) for e in events] == [("open", 117), ("open", 117)]
    assert events[0].fields["path"] == name and events[1].fields["path"] == "/tmp/next"


def test_without_the_seal_the_same_lines_are_forged() -> None:
    name = f"/tmp/a\n{FORGED_EXIT}\nz"
    raw = _open(name).removesuffix(END) + "\n"
    assert ("sched_process_exit", 1) in [(e.event, e.pid) for e in _events(raw.encode())]


def test_tracepoints_and_raw_syscalls_pass_line_by_line() -> None:
    stream = "\n".join(
        [
            _head("sample", 117) + "sys_enter: NR 257 (ffffff9c, 7f24, 80000, 0, 0, 0)",
            _open("/tmp/x"),
            _head("sample", 117) + "sched_process_exit: comm=sample pid=117 prio=120",
            _head("sample", 117) + "sys_exit: NR 257 = 3",
            "",
        ]
    )
    events = _events(_through(stream))
    assert [e.event for e in events] == ["sys_enter", "open", "sched_process_exit", "sys_exit"]


def test_a_process_name_with_a_line_break_keeps_its_records() -> None:
    comm = "ev\nil"
    unsealer = Unsealer(SEAL, PROBES)
    trace = unsealer.feed((_open("/tmp/x", pid=200, comm=comm) + "\n").encode())
    events = _events(trace + unsealer.finish())
    assert [(e.event, e.pid, e.comm) for e in events] == [("open", 200, comm)]


def test_a_record_cut_short_is_kept_and_counted() -> None:
    unsealer = Unsealer(SEAL, PROBES)
    out = unsealer.feed((_open("/tmp/a\nb").removesuffix(END) + "\n").encode())
    assert out == b"" and unsealer.finish().endswith(b"\n") and unsealer.unfinished == 1


def test_every_record_sealed() -> None:
    fork = _head("sh", 60) + f"sched_process_fork: comm=sh pid=60 child_comm=sh child_pid=61{END}"
    name = f"/tmp/a\n{FORGED_EXIT}"
    events = _events(_through(fork + "\n" + _open(name, pid=61) + "\n", every=True))
    assert [(e.event, e.pid) for e in events] == [("sched_process_fork", 60), ("open", 61)]
    assert events[1].fields["path"] == name


def test_every_probe_is_sealed_and_exec_names_with_line_breaks_are_filtered() -> None:
    seal = new_seal()
    assert seal >> 31 == 1 and seal < 1 << 32
    plan = plan_for(get_profile("x86_64"), seal=seal)
    assert all(line.endswith(f" {SEAL_FIELD}=\\{seal:#x}:x32") for line in plan.probes)
    assert ("sched/sched_process_exec", EXEC_FILTER) in plan.filters
    assert "\n" in EXEC_FILTER and EXEC_FILTER.startswith("!(")
    assert "open" in PROBES and "open_r" in PROBES and "sched_process_exec" not in PROBES
    unsealed = plan_for(get_profile("x86_64"))
    assert not any(SEAL_FIELD + "=" in line for line in unsealed.probes)


def test_a_name_with_a_line_break_in_a_tracepoint_keeps_its_record_whole() -> None:
    comm = "x\n  sshd-1 (1)"
    exit_line = _head(comm, 169) + f"sched_process_exit: comm={comm} pid=169 prio=120"
    fork_line = (
        _head(comm, 169)
        + f"sched_process_fork: comm={comm} pid=169 child_comm={comm} child_pid=170"
    )
    trace = _through(exit_line + "\n" + fork_line + "\n" + _open("/tmp/y") + "\n")
    assert trace.count(b"\n") == 3  # one line a record
    events = _events(trace)
    assert [(e.event, e.pid) for e in events] == [
        ("sched_process_exit", 169),
        ("sched_process_fork", 169),
        ("open", 117),
    ]
    assert events[0].fields["comm"] == comm and events[1].fields["child_pid"] == "170"
