"""The trace parser on ``<event>__<suffix>`` records (a probe through another syscall ABI) and
on the arm64 argv probe, which prints the syscall number before argc."""

from __future__ import annotations

import pytest

from aasee.processing.trace_parser import EVENT_FIELDS, TraceEvent, parse_trace, split_variant

from .tracegen import header

BODIES = {
    "open": 'dfd=-100 path="/etc/x" flags=0x8241 mode=0x1a4',
    "unlink": 'dfd=-100 path="/tmp/a"',
    "rmdir": 'dfd=-100 path="/tmp/d"',
    "mkdir": 'dfd=-100 path="/tmp/d" mode=0x1ed',
    "rename": 'olddfd=-100 old="/a" newdfd=-100 new="/b" flags=0x0',
    "symlink": 'target="/a" dfd=-100 path="/b"',
    "link": 'olddfd=-100 old="/a" newdfd=-100 new="/b"',
    "chmod": 'path="/tmp/x" mode=0x1ed',
    "fchmodat": 'dfd=-100 path="/tmp/x" mode=0x1ed',
    "fchmod": "fd=3 mode=0x1ed",
    "chdir": 'path="/tmp"',
    "argv": 'argc=1 a0="/bin/sh" ' + " ".join(f"a{i}=(fault)" for i in range(1, 8)),
    "connect": "fam=2 port=20480 addr=16777343 a6hi=0x0 a6lo=0x0 len=16",
    "bind": "fam=2 port=20480 addr=0 a6hi=0x0 a6lo=0x0 len=16",
    "bind6": "fam=10 port=20480 addr=0 a6hi=0x0 a6lo=0x0 len=28",
    "udpsend": "daddr=0 dport=0 fam=2 port=13568 addr=50463242 a6hi=0x0 a6lo=0x0 size=30",
    "ptrace": "request=0 pid=0",
    "exit": "code=0",
    "open_r": "ret=3",
    "connect_r": "ret=-111",
    "unlink_r": "ret=0",
    "rename_r": "ret=0",
    "sched_process_fork": "comm=a pid=5 child_comm=a child_pid=6",
    "sched_process_exec": "filename=/bin/sh pid=5 old_pid=5",
    "sched_process_exit": "comm=a pid=5 prio=120",
    "flood": "pid=5 events=20000 window_ms=1000",
}


def one(event: str, body: str, probe: str | None = "__ia32_sys_x+0x0/0x20") -> TraceEvent:
    # Tracepoints and the agent's flood records print no "(probe)" part.
    bare = event.startswith("sched_") or event.startswith("flood")
    text = f"({probe}) {body}" if probe and not bare else body
    (parsed,) = list(parse_trace([(header(5, "a") + f"{event}: {text}").encode()]))
    return parsed


def test_every_known_event_has_a_body_here() -> None:
    assert set(BODIES) == set(EVENT_FIELDS)


@pytest.mark.parametrize("event", sorted(EVENT_FIELDS))
def test_every_known_event_accepts_a_suffix(event: str) -> None:
    plain = one(event, BODIES[event])
    variant = one(f"{event}__i386", BODIES[event])
    assert (plain.event, plain.variant) == (event, None)
    assert (variant.event, variant.variant) == (event, "i386")
    assert variant.fields == plain.fields and variant.fields


def test_return_probe_variants_both_spellings() -> None:
    for name in ("open__i386_r", "open_r__i386"):
        event = one(name, "ret=-2")
        assert (event.event, event.variant, event.get_int("ret")) == ("open_r", "i386", -2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("argv__i386", ("argv", "i386")),
        ("argv__2", ("argv", "2")),
        ("argv__", ("argv__", None)),
        ("nosuch__i386", ("nosuch__i386", None)),
        ("argv___x", ("argv___x", None)),
        ("sys_enter", ("sys_enter", None)),
    ],
)
def test_split_variant(name: str, expected: tuple[str, str | None]) -> None:
    assert split_variant(name) == expected


def test_unknown_suffixed_event_is_kept_whole() -> None:
    event = one("foo__i386", "x=1")
    assert (event.event, event.variant, event.fields) == ("foo__i386", None, {})


def test_arm64_argv_with_leading_syscall_number() -> None:
    body = 'nr=-1 argc=2 a0="/tmp/a" a1="x y" ' + " ".join(f"a{i}=(fault)" for i in range(2, 8))
    event = one("argv", body, probe="syscall_trace_exit+0x0/0x1c0")
    assert event.get_int("nr") == -1 and event.get_int("argc") == 2
    assert (event.get_str("a0"), event.get_str("a1"), event.get_str("a2")) == (
        "/tmp/a",
        "x y",
        None,
    )


def test_leading_field_must_be_a_number() -> None:
    line = (
        header(5, "a")
        + 'argv: nr=x argc=1 a0="/a" '
        + " ".join(f"a{i}=(fault)" for i in range(1, 8))
    )
    assert list(parse_trace([line.encode()])) == []


def test_forged_variant_names_stay_bounded() -> None:
    # A suffix is an identifier of at most 32 characters; anything else is not a variant.
    long = "argv__" + "x" * 40
    assert split_variant(long) == (long, None)
