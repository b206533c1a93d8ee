"""The fast paths of the parser and of the behaviour model give what their general code gives.

The parser remembers header and tail texts, and the model takes the records it remembers
straight to its state (``feed_lines``); both are checked here against the general code
(``fast`` off, and ``feed_all`` over parsed events) on random traces: forks, threads, pid
reuse, execs, raw syscalls around and between probes, descriptors, hostile lines.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from aasee.processing.behaviour import BehaviourBuilder, Limits
from aasee.processing.trace_parser import TraceParser

from .golden_capture import behaviour_dict, event_row
from .tracegen import Trace, header, started, wire_ipv4, wire_port

ROOT = 100
NOISE = [
    b"",
    b"# comment",
    b"garbage without a header",
    b"           x: y-12 (12) [000] ..... 1.0: sys_enter: NR 1 (0, 0, 0, 0, 0, 0)",
    header(7, ts=2.0).encode() + b"sys_enter: NR 1 (zz)",
    header(7, ts=2.0).encode() + b"sys_exit:NR 1 = 0",
    header(7, ts=2.0).encode() + b"sys_exit: NR 1 = 0\r",
    header(7, ts=2.0).encode()[:-2] + b" 1.5: sys_exit: NR 1 = 0",
    header(7, ts=2.0).encode().replace(b".....", b"1.5:") + b"sys_exit: NR 1 = 0",
    header(7, ts=2.0).encode() + b"open_r__i386: (x) ret=0",
    header(7, ts=2.0).encode() + b"exit: (p)code=(fault)",
    header(7, ts=2.0).encode() + b'open: (p) dfd=-100 path="/a\nb',
]


def random_trace(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    trace = started(ROOT)
    live = [ROOT]
    dead: list[int] = []
    threads: dict[int, int] = {}
    next_pid = ROOT + 1
    for _ in range(rng.randint(50, 400)):
        # now and then a pid that exited: reused by a fork, or seen again without one
        pid = rng.choice(dead if dead and rng.random() < 0.05 else live + list(threads))
        tgid = threads.get(pid)
        comm = rng.choice(["sample", "sh", "x\xff".encode("latin-1").decode("latin-1")])
        roll = rng.random()
        if roll < 0.08 and len(live) < 12:
            child = next_pid if rng.random() < 0.8 else rng.choice(live + dead)
            next_pid += 1
            if child in dead:
                dead.remove(child)
            if rng.random() < 0.3:
                trace.syscall(pid, 56, [0x3D0F00], child, comm=comm, tgid=tgid)
                threads[child] = threads.get(pid, pid)
            else:
                trace.enter(pid, 56, [0x11], comm=comm, tgid=tgid)
                trace.fork(pid, child, comm=comm, tgid=tgid)
                trace.leave(pid, 56, child, comm=comm, tgid=tgid)
                if child not in live:
                    live.append(child)
        elif roll < 0.12:
            trace.enter(pid, 59, comm=comm, tgid=tgid)
            if rng.random() < 0.5:
                trace.exec(pid, f"/bin/p{rng.randint(0, 3)}", ["p", "-x"], comm=comm)
            else:
                trace.add(pid, "sched_process_exec", f"filename=/bin/q pid={pid} old_pid={pid}")
                trace.add(pid, "argv", 'argc=1 a0="q" a1=(fault) a2=(fault) a3=(fault) '
                          "a4=(fault) a5=(fault) a6=(fault) a7=(fault)")  # fmt: skip
            trace.leave(pid, 59, 0, comm=comm, tgid=tgid)
        elif roll < 0.16 and pid != ROOT:
            if pid in threads:
                del threads[pid]
                trace.add(pid, "sched_process_exit", f"comm={comm} pid={pid} prio=120", tgid=tgid)
            else:
                trace.exit(pid, rng.choice([0, 9, 0x100]), comm=comm)
                if pid in live:
                    live.remove(pid)
                    dead.append(pid)
        elif roll < 0.45:
            # an open inside its syscall, or after it (as the benchmark writes it)
            nr = rng.choice([2, 257])
            path = rng.choice(["/etc/passwd", "rel/x", "/tmp/./y", "/tmp//z/", "a b\xe9"])
            flags = rng.choice([0x8000, 0x8241, 0x18000 | 0x10000, 0x20])
            fd = rng.randint(3, 6)
            if rng.random() < 0.5:
                trace.enter(pid, nr, [0xFFFFFF9C, 0, flags], comm=comm, tgid=tgid)
                trace.open(pid, path, flags=flags, comm=comm, tgid=tgid,
                           ret=rng.choice([-2, -13, -128926289535744]))  # fmt: skip
                trace.leave(pid, nr, rng.choice([fd, -2]), comm=comm, tgid=tgid)
            else:
                trace.syscall(pid, nr, [0xFFFFFF9C, 0, flags], fd, comm=comm, tgid=tgid)
                trace.open(pid, path, flags=flags, comm=comm, tgid=tgid)
        elif roll < 0.55:
            fd = rng.randint(0, 7)
            nr = rng.choice([3, 32, 33, 72, 81])
            trace.syscall(pid, nr, [fd, 1030 if nr == 72 else 0, 0], rng.randint(-9, 9),
                          comm=comm, tgid=tgid)  # fmt: skip
        elif roll < 0.62:
            trace.syscall(pid, 41, [2, rng.choice([1, 2, 0x80801])], 5, comm=comm, tgid=tgid)
            trace.enter(pid, 42, [5, 0, 16], comm=comm, tgid=tgid)
            trace.add(pid, "connect", f"fam=2 port={wire_port(rng.choice([80, 53]))} "
                      f"addr={wire_ipv4('10.0.0.1')} a6hi=0x0 a6lo=0x0 len=16",
                      comm=comm, tgid=tgid)  # fmt: skip
            trace.add(pid, "connect_r", f"ret={rng.choice([0, -111])}", comm=comm, tgid=tgid)
            trace.leave(pid, 42, 0, comm=comm, tgid=tgid)
        elif roll < 0.66:
            trace.add(pid, "chdir", f'path="{rng.choice(["/tmp", "sub", "/"])}"', comm=comm)
            trace.syscall(pid, 80, [0], rng.choice([0, -2]), comm=comm, tgid=tgid)
        elif roll < 0.7:
            trace.raw(rng.choice(NOISE))
        else:
            trace.syscall(pid, rng.choice([0, 1, 9, 39, 60, 231]), [1, 2, 3],
                          rng.choice([0, 1, 4096, -11]), comm=comm, tgid=tgid)  # fmt: skip
    return trace.lines


@pytest.mark.parametrize("seed", range(30))
def test_parser_fast_path_is_the_general_path(seed: int) -> None:
    lines = random_trace(seed)
    fast, general = TraceParser(), TraceParser()
    general.fast = False
    assert [event_row(e) for e in fast.parse(lines)] == [event_row(e) for e in general.parse(lines)]
    assert dataclasses.asdict(fast.stats) == dataclasses.asdict(general.stats)


@pytest.mark.parametrize("seed", range(60))
def test_model_fast_path_is_the_event_path(seed: int) -> None:
    lines = random_trace(seed)
    limits = Limits(records=50, calls_per_task=4, fds_per_process=8)
    by_events = BehaviourBuilder(ROOT, "/", None, limits)
    events = TraceParser()
    events.fast = False
    by_events.feed_all(events.parse(lines))
    by_lines = BehaviourBuilder(ROOT, "/", None, limits)
    parser = TraceParser()
    by_lines.feed_lines(lines, parser)
    assert behaviour_dict(by_lines.finish()) == behaviour_dict(by_events.finish())
    assert dataclasses.asdict(parser.stats) == dataclasses.asdict(events.stats)


def test_remembered_parts_are_bounded() -> None:
    trace = Trace()
    for pid in range(1, 6000):
        trace.syscall(pid, 1, [pid], pid)
    parser = TraceParser()
    assert sum(1 for _ in parser.parse(trace.lines)) == len(trace.lines)
    assert len(parser.heads) <= 4096 and len(parser.tails) <= 4096


def _tricky_lines() -> list[bytes]:
    """Records whose strings hold what the fast paths cut at: quotes, field names, (fault),
    separators, ``path="``; each text twice or more, so that what the parser remembers of
    the first is what parses the next."""
    t = started(ROOT)
    paths = ['/tmp/a', '/tmp/a" flags=0x1 mode=0x2', 'x path="y', '/tmp/q"', '"', '', 'a\\"b',
             '/tmp/ sp', 'rel/p path="/etc/passwd" flags=0x8000', '/tmp/(fault)']  # fmt: skip
    for path in paths * 2:
        t.open(ROOT, path, flags=0x8241, mode=0o644)
        t.add(ROOT, "unlink", f'dfd=-100 path="{path}"')
        t.add(ROOT, "mkdir", f'dfd=3 path="{path}" mode=0x1ed')
        t.add(ROOT, "chmod", f'path="{path}" mode=0x1a4')
        t.add(ROOT, "chdir", f'path="{path}"')
    t.add(ROOT, "chdir", "path=(fault)")
    t.add(ROOT, "open", "dfd=-100 path=(fault) flags=0x0 mode=0x0")
    words = ["job", 'a" a1="b', "(fault)", "", "x y", '"', "a2=(fault)", 'q"']
    rng = random.Random(7)
    for _ in range(60):
        argc = rng.randint(0, 9)
        values = ["(fault)" if rng.random() < 0.2 else f'"{rng.choice(words)}"' for _ in range(8)]
        t.add(ROOT, "argv", f"argc={argc} " + " ".join(f"a{i}={v}" for i, v in enumerate(values)))
        old, new = rng.choice(words), rng.choice(words)
        t.add(ROOT, "rename", f'olddfd=-100 old="{old}" newdfd=-100 new="{new}" flags=0x0')
        t.add(ROOT, "link", f'olddfd=-100 old="{old}" newdfd=-100 new=(fault)')
        t.add(ROOT, "symlink", f'target="{old}" dfd=-100 path="{new}"')
        comm, child = rng.choice(["sh", "a b", "x pid=1", ""]), rng.choice(["c", "d e", ""])
        child_pid = rng.randint(200, 300)
        fork = f"comm={comm} pid={ROOT} child_comm={child} child_pid={child_pid}"
        t.add(ROOT, "sched_process_fork", fork)
        t.add(ROOT, "sched_process_exec", f"filename=/bin/{child} pid={ROOT} old_pid={ROOT}")
    return t.lines


def test_tricky_strings_parse_as_the_general_path_parses_them() -> None:
    lines = _tricky_lines()
    fast, general = TraceParser(), TraceParser()
    general.fast = False
    assert [event_row(e) for e in fast.parse(lines)] == [event_row(e) for e in general.parse(lines)]
    assert dataclasses.asdict(fast.stats) == dataclasses.asdict(general.stats)
    assert fast._templates  # the paths went through templates


def test_tricky_strings_give_the_model_the_events_give() -> None:
    lines = _tricky_lines()
    by_events = BehaviourBuilder(ROOT, "/", None, Limits(records=500))
    events = TraceParser()
    events.fast = False
    by_events.feed_all(events.parse(lines))
    by_lines = BehaviourBuilder(ROOT, "/", None, Limits(records=500))
    by_lines.feed_lines(lines, TraceParser())
    assert behaviour_dict(by_lines.finish()) == behaviour_dict(by_events.finish())
