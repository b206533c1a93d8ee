"""Tests of the human-readable report summary."""

from __future__ import annotations

from pathlib import Path

from aasee.processing.models import AnalysisMeta, Sample
from aasee.processing.report import build_report
from aasee.processing.summary import MAX_ITEMS, summarize, summary_sections
from aasee.processing.text import clean_text, printable

from .tracegen import started

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
SAMPLE = Sample(name="s", size=1, md5="", sha1="", sha256="")


def report_of(path: Path, root_pid: int) -> list[str]:
    report = build_report(
        sample=SAMPLE,
        analysis=AnalysisMeta(id="x"),
        trace_path=path,
        root_pid=root_pid,
        exits=[{"pid": root_pid, "time": 1.0, "signal": 11}],
    )
    return summarize(report)


def test_basic_summary() -> None:
    assert report_of(BASIC, 117) == [
        "Processes:",
        "  117 /tmp/sample  argv: /tmp/sample  killed by SIGSEGV",
        "    122 /bin/ls  argv: ls -l /tmp  exit 0",
        "Files written:",
        "  /tmp/hello.txt (created)  pid 117",
        "Files renamed:",
        "  /tmp/hello.txt -> /tmp/hello2.txt  pid 117",
        "Permissions changed:",
        "  /tmp/hello2.txt 0600  pid 117",
        "Network:",
        "  tcp 198.51.100.7:4444  ECONNREFUSED  pid 117",
        "Debugger checks:",
        "  ptrace PTRACE_TRACEME  pid 117",
    ]


def test_terminal_escapes_are_neutralised(tmp_path: Path) -> None:
    trace = started(10, "/tmp/\x1b]0;owned\x07x", ["\x1b[2J", "ok"])
    trace.open(10, "/tmp/\x1b[31mred\r", flags=0x241)
    path = tmp_path / "t.log"
    path.write_bytes(b"\n".join(trace.lines) + b"\n")
    lines = report_of(path, 10)
    assert all("\x1b" not in line and "\r" not in line and "\x07" not in line for line in lines)
    assert "  /tmp/\\x1b[31mred\\x0d (created)  pid 10" in lines


def test_sections_are_bounded(tmp_path: Path) -> None:
    trace = started(10)
    for n in range(MAX_ITEMS + 5):
        trace.open(10, f"/tmp/f{n}", flags=0x41)
    path = tmp_path / "t.log"
    path.write_bytes(b"\n".join(trace.lines) + b"\n")
    report = build_report(
        sample=SAMPLE, analysis=AnalysisMeta(id="x"), trace_path=path, root_pid=10
    )
    sections = dict(summary_sections(report))
    assert len(sections["Files written"]) == MAX_ITEMS + 1
    assert sections["Files written"][-1] == "… and 5 more"


def test_text_helpers() -> None:
    assert printable("a\nb\x9bc") == "a\\x0ab\\x9bc"
    assert printable("x" * 500, 10) == "x" * 9 + "…"
    assert clean_text("ok") == "ok"
    assert clean_text("a\udcffb\ud800") == "a\\xffb\\xed\\xa0\\x80"
