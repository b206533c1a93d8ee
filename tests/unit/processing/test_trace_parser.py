"""Tests of the defensive ftrace text parser."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.processing import trace_parser
from aasee.processing.trace_parser import (
    EVENT_FIELDS,
    MAX_LINE,
    MalformedRecord,
    TraceEvent,
    TraceParser,
    TraceStats,
    parse_fields,
    parse_trace,
    read_trace_lines,
)

from .tracegen import header, record
from .work import grows_linearly, lines_run

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"


def parse(lines: list[bytes]) -> tuple[list[TraceEvent], TraceStats]:
    stats = TraceStats()
    return list(parse_trace(lines, stats)), stats


def one(line: bytes) -> TraceEvent:
    events, stats = parse([line])
    assert len(events) == 1, stats
    return events[0]


class TestRealTrace:
    def test_every_line_is_understood(self) -> None:
        stats = TraceStats()
        events = list(parse_trace(read_trace_lines(BASIC), stats))
        assert stats.lines == 369
        assert stats.comments == 12
        assert stats.skipped == 0
        assert stats.parsed == len(events) == 357
        assert stats.by_event["sys_enter"] == 152
        assert stats.by_event["open"] == stats.by_event["open_r"] == 15

    def test_header_fields(self) -> None:
        events = list(parse_trace(read_trace_lines(BASIC)))
        chmod = next(e for e in events if e.event == "chmod")
        assert (chmod.comm, chmod.pid, chmod.tgid, chmod.cpu) == ("sample", 117, 117, 0)
        assert chmod.ts == pytest.approx(5.707163)
        assert chmod.probe == "__x64_sys_chmod+0x0/0x20"
        assert chmod.fields == {"path": "/tmp/hello2.txt", "mode": "0x180"}
        assert chmod.get_int("mode") == 0o600

    def test_kretprobe_and_syscalls(self) -> None:
        events = list(parse_trace(read_trace_lines(BASIC)))
        ret = next(e for e in events if e.event == "connect_r")
        assert ret.probe == "__sys_connect+0xa4/0xd0 <- __sys_connect_file"
        assert ret.get_int("ret") == 4294967185
        enter = next(e for e in events if e.event == "sys_enter")
        assert enter.get_int("nr") == 112
        assert enter.syscall_args() == [0x7F243E9EDCB0, 0, 0xA3EAA0, 0x7F243EAAE1C8, 0, 0]
        exit_ = next(e for e in events if e.event == "sys_exit" and e.get_int("nr") == 42)
        assert exit_.get_int("ret") == -111

    def test_argv_and_fault(self) -> None:
        events = list(parse_trace(read_trace_lines(BASIC)))
        argv = [e for e in events if e.event == "argv"][1]
        assert argv.get_int("argc") == 3
        assert [argv.get_str(f"a{i}") for i in range(4)] == ["ls", "-l", "/tmp", None]
        assert (
            argv.get_str("a4")
            == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )


class TestFields:
    def test_string_with_quotes_spaces_and_equals(self) -> None:
        path = '/tmp/a" flags=0x1 mode=0x2 b=c "d'
        event = one(record(5, "open", f'dfd=-100 path="{path}" flags=0x8241 mode=0x81a4'))
        assert event.fields == {"dfd": "-100", "path": path, "flags": "0x8241", "mode": "0x81a4"}

    def test_two_strings_with_forged_separator(self) -> None:
        old = 'x" newdfd=-100 new="y'
        event = one(record(5, "rename", f'olddfd=-100 old="{old}" newdfd=5 new="/z" flags=0x0'))
        # The leftmost split that leaves every other field well-formed wins.
        assert event.get_str("old") == "x"
        assert event.get_str("new") == 'y" newdfd=5 new="/z'
        assert event.get_int("flags") == 0

    def test_argv_strings_with_separators(self) -> None:
        event = one(
            record(
                5,
                "argv",
                'argc=2 a0="a a1=" a1="b" a2=(fault) a3=(fault) a4="" a5="x" a6="y" a7="=\\"="',
            )
        )
        assert event.get_str("a0") == "a a1="
        assert event.get_str("a1") == "b"
        assert event.get_str("a2") is None
        assert event.get_str("a4") == ""
        assert event.get_str("a7") == '=\\"='

    def test_unquoted_comm_with_spaces_and_field_names(self) -> None:
        event = one(
            record(
                7, "sched_process_fork", "comm=a pid=1 x pid=7 child_comm=b child_pid=3 child_pid=8"
            )
        )
        assert event.get_str("comm") == "a pid=1 x"
        assert event.get_int("pid") == 7
        assert event.get_str("child_comm") == "b child_pid=3"
        assert event.get_int("child_pid") == 8

    def test_exec_filename_with_spaces(self) -> None:
        event = one(record(7, "sched_process_exec", "filename=/tmp/my prog pid=3 pid=7 old_pid=7"))
        assert event.get_str("filename") == "/tmp/my prog pid=3"
        assert event.get_int("old_pid") == 7

    def test_fault_in_numeric_field(self) -> None:
        event = one(
            record(
                7,
                "udpsend",
                "daddr=1 dport=2 fam=(fault) port=(fault) addr=(fault) "
                "a6hi=(fault) a6lo=(fault) size=40",
            )
        )
        assert event.get_int("fam") is None
        assert event.get_int("daddr") == 1

    @pytest.mark.parametrize(
        "body",
        [
            'dfd=-100 path="/x" flags=0x8241',  # missing field
            'dfd=-100 path="/x" flags=0x8241 mode=zz',  # bad hex
            'dfd=abc path="/x" flags=0x1 mode=0x1',  # bad int
            'path="/x" dfd=-100 flags=0x1 mode=0x1',  # wrong order
            "dfd=-100 path=/x flags=0x1 mode=0x1",  # unquoted string
            "",
        ],
    )
    def test_malformed_fields_raise(self, body: str) -> None:
        with pytest.raises(MalformedRecord):
            parse_fields(body, EVENT_FIELDS["open"])

    def test_hostile_separator_flood_is_cheap(self) -> None:
        # Thousands of candidate string ends must not make the splitter explode: its split
        # budget bounds the attempts (a few thousand lines of parsing), whatever the flood.
        def flood(ends: int) -> tuple[tuple[list[TraceEvent], TraceStats], int]:
            body = 'argc=1 a0="' + '" a1="' * ends + '" a1=x a2="' + '" a3="' * (ends // 3)
            return lines_run(lambda: parse([record(5, "argv", body)]), 20_000)

        (events, stats), lines = flood(6000)
        assert not events and stats.malformed == 1
        # Half the flood costs as much: the budget, not the flood, sets the work.
        (events, stats), fewer = flood(3000)
        assert not events and stats.malformed == 1
        assert lines <= fewer * 1.1, (fewer, lines)


class TestHeader:
    def test_comm_with_spaces_and_dashes(self) -> None:
        event = one(record(42, "exit", "code=0", comm="my-prog 2-3"))
        assert (event.comm, event.pid) == ("my-prog 2-3", 42)

    def test_comm_looking_like_a_header_cannot_shift_fields(self) -> None:
        # 15 bytes, the most a comm can hold: the fixed 16-column layout keeps it the comm.
        forged = "a-1 [0] 1.0: e:"
        event = one(record(42, "chmod", 'path="/etc/shadow" mode=0x1ff', comm=forged))
        assert (event.comm, event.pid, event.event) == (forged, 42, "chmod")

    def test_overlong_forged_comm_is_still_parsed_safely(self) -> None:
        line = (
            b"x) [000] ....: open:-150     (    150) [000] .....     6.000000: "
            b'chmod: (__x64_sys_chmod+0x0/0x20) path="/a" mode=0x1ed'
        )
        event = one(line)
        assert (event.comm, event.pid, event.event) == ("x) [000] ....: open:", 150, "chmod")
        assert event.get_str("path") == "/a"

    def test_unknown_tgid(self) -> None:
        line = record(9, "exit", "code=0", tgid=-1)
        assert b"(-------)" in line
        assert one(line).tgid is None

    def test_unknown_event_kept_without_fields(self) -> None:
        event = one(header(9).encode() + b"sched_switch: prev_comm=a prev_pid=9")
        assert event.event == "sched_switch" and event.fields == {}

    def test_invalid_utf8_is_kept_visible(self) -> None:
        line = record(9, "unlink", 'dfd=-100 path="/tmp/X"').replace(b"X", b"\xff\xfe")
        line = line.replace(b"sample", b"s\xe9mple")
        event = one(line)
        assert event.get_str("path") == "/tmp/\\xff\\xfe"
        assert event.comm == "s\\xe9mple"


class TestHostileInput:
    def test_garbage_long_lines_and_absurd_numbers_never_crash(self) -> None:
        good = record(5, "exit", "code=0")
        lines = [
            b"",
            b"# tracer: nop",
            b"\x00\x01\x02garbage \xff",
            b"hello world",
            b"A" * (MAX_LINE + 10),
            good + b" " * MAX_LINE,
            header(99999999999).encode() + b"exit: code=0",  # pid over 10 digits
            b"  sample-5 (5) [000] ..... 99999999999999.000000: exit: code=0",
            record(5, "connect", "fam=2 port=" + "9" * 30 + " addr=1 a6hi=0x0 a6lo=0x0 len=16"),
            record(5, "exit", "code=" + "9" * 25),
            record(5, "sys_exit", "NR 1 = " + "1" * 40),
            record(5, "sys_enter", "NR 1 (zz)"),
            record(5, "exit", "code=-9223372036854775808"),
            record(5, "ptrace", "request=18446744073709551615 pid=-1"),
            good,
        ]
        events, stats = parse(lines)
        assert [e.event for e in events] == ["exit", "ptrace", "exit"]
        assert stats.lines == len(lines)
        assert stats.blank == 1 and stats.comments == 1
        assert stats.too_long == 2
        assert stats.garbage == 4
        assert stats.malformed == 4
        assert stats.skipped == 10
        assert events[1].get_int("request") == 2**64 - 1

    def test_record_split_by_newline_in_a_string_is_joined(self) -> None:
        first = record(5, "open", 'dfd=-100 path="/tmp/evil')
        second = b'name" flags=0x8241 mode=0x81a4'
        events, stats = parse([first, second, record(5, "exit", "code=0")])
        assert [e.event for e in events] == ["open", "exit"]
        assert events[0].get_str("path") == "/tmp/evil\nname"
        assert stats.joined == 1 and stats.skipped == 0

    def test_forged_line_after_a_break_is_not_swallowed(self) -> None:
        # A name holding '\n' followed by a record-like line: the cut record is dropped and
        # counted, the record-like line is kept (forged lines may add, never hide).
        lines = [
            record(5, "chdir", 'path="/tmp/x'),
            # The forged text ends where the real chdir's closing quote follows it.
            record(5, "unlink", 'dfd=-100 path="/etc/passwd') + b'"',
            record(5, "exit", "code=0"),
        ]
        events, stats = parse(lines)
        assert stats.interrupted == 1 and stats.malformed == 1
        assert [e.event for e in events] == ["unlink", "exit"]
        assert events[0].get_str("path") == "/etc/passwd"

    def test_truncated_final_record(self) -> None:
        events, stats = parse([record(5, "exit", "code=0"), record(5, "open", 'dfd=-100 path="/t')])
        assert len(events) == 1 and stats.malformed == 1

    def test_parser_is_lazy(self) -> None:
        pulled: list[bytes] = []

        def source() -> Iterator[bytes]:
            for line in [record(5, "exit", "code=0")] * 3:
                pulled.append(line)
                yield line

        parser = TraceParser()
        iterator = parser.parse(source())
        next(iterator)
        assert len(pulled) == 1
        # Counts are complete once the iteration ends or is closed.
        iterator.close()
        assert parser.stats.lines == 1
        parser = TraceParser()
        assert len(list(parser.parse(source()))) == 3
        assert parser.stats.lines == parser.stats.parsed == 3


class TestReadLines:
    def test_overlong_line_is_cut_and_counted(self) -> None:
        good = record(5, "exit", "code=0") + b"\n"
        data = good + b"x" * (3 * MAX_LINE) + b"\n" + good
        lines = list(read_trace_lines(io.BytesIO(data)))
        assert len(lines) == 3
        assert len(lines[1]) == MAX_LINE + 3
        events, stats = parse(lines)
        assert len(events) == 2 and stats.too_long == 1

    def test_crlf_and_missing_final_newline(self) -> None:
        data = record(5, "exit", "code=0") + b"\r\n" + record(6, "exit", "code=0")
        events, _ = parse(list(read_trace_lines(io.BytesIO(data))))
        assert [e.pid for e in events] == [5, 6]

    @pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 20])
    def test_chunk_boundaries(self, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(trace_parser, "_READ_CHUNK", chunk)
        rng = random.Random(chunk)
        for _ in range(50):
            data = bytes(rng.choice(b"ab\n\r") for _ in range(rng.randint(0, 300)))
            limit = 10 + 3
            expected = [line[:limit] for line in data.split(b"\n")]
            if expected and expected[-1] == b"":
                expected.pop()
            assert list(read_trace_lines(io.BytesIO(data), max_line=10)) == expected

    def test_reads_a_path(self, tmp_path: Path) -> None:
        path = tmp_path / "trace.log"
        path.write_bytes(record(5, "exit", "code=0") + b"\n")
        assert len(list(read_trace_lines(path))) == 1


def test_large_trace_parses_with_work_linear_in_its_length() -> None:
    # Throughput in MB/s is measured by bench/postprocess.py; here the work per line must not
    # grow with the trace (no state that slows every later line).
    body = b"".join(
        line + b"\n" for line in BASIC.read_bytes().split(b"\n") if line and line[:1] != b"#"
    )

    def events(copies: int) -> int:
        return sum(1 for _ in parse_trace(read_trace_lines(io.BytesIO(body * copies))))

    assert events(100) == 35700
    grows_linearly(events, 5, slack=1.02)
