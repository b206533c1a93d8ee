"""Golden reports: results directories whose ``report.json`` (and ``report.html``) are kept in
``tests/data/golden/`` as the code produced them before postprocessing was made fast.
(``report.html`` is not kept: its layout changes with every new section.)

``test_golden.py`` rebuilds each and compares. Regenerate only when a change of the report is
intended (and say so in the commit)::

    .venv/bin/python -m tests.unit.processing.golden --write
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from aasee.processing.run_meta import RunMeta, write_run_meta

from .tracegen import (
    BENCH_ROOT_PID,
    Trace,
    bench_results,
    started,
    wire_ipv4,
    wire_ipv6,
    wire_port,
)

GOLDEN = Path(__file__).parents[2] / "data" / "golden"
BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
CLOCK = (5.0, 1_700_000_000.0)


def _basic(out: Path) -> None:
    out.mkdir(parents=True)
    shutil.copy(BASIC, out / "trace.log")
    (out / "sample.bin").write_bytes(b"#!/bin/sh\necho hi\n")
    (out / "stdout.txt").write_bytes(b"hello\n")
    write_run_meta(
        RunMeta(
            analysis_id="golden-basic",
            sample_name="dropper.sh",
            started="2024-05-01T12:00:00Z",
            ended="2024-05-01T12:01:00Z",
            timeout=60,
            root_pid=117,
            initial_cwd="/tmp",
            clock_sync=CLOCK,
            exits=[{"pid": 117, "time": CLOCK[1] + 3.0, "code": 7}],
            errors=["a note from the run"],
        ),
        out,
    )


def _workers(out: Path) -> None:
    bench_results(out, workers=6)


def _kitchen_trace() -> Trace:
    """Every kind of record the model turns into a report entry, threads, a pid reused,
    an i386 program, garbage and a string holding a line break."""
    root = 300
    t = started(root, "/tmp/sample", ["/tmp/sample", "--go"])
    t.raw(b"# tracer: nop")
    t.raw(b"")
    t.raw(b"complete garbage line")
    t.syscall(root, 80, [0x1000], 0)  # chdir
    t.add(root, "chdir", 'path="/var/tmp"')
    t.open(root, "/etc/passwd")
    t.open(root, "/etc/passwd")
    t.open(root, "notes.txt", flags=0x8241, mode=0o600)
    t.open(root, "/var/tmp", flags=0x18000 | 0x10000)
    t.add(root, "unlink", 'dfd=-100 path="notes.txt"').add(root, "unlink_r", "ret=0")
    t.add(root, "rmdir", 'dfd=-100 path="/tmp/gone"')
    t.add(root, "mkdir", 'dfd=-100 path="/tmp/.hidden" mode=0x1ed')
    t.add(root, "rename", 'olddfd=-100 old="a b" newdfd=-100 new="/tmp/c d" flags=0x0')
    t.add(root, "rename_r", "ret=-2")
    t.add(root, "symlink", 'target="/bin/sh" dfd=-100 path="/tmp/sh"')
    t.add(root, "link", 'olddfd=-100 old="/etc/shadow" newdfd=-100 new="/tmp/s"')
    t.add(root, "chmod", 'path="/tmp/sh" mode=0x1ed')
    t.add(root, "fchmodat", 'dfd=-100 path="/tmp/x" mode=0x9ed')
    t.add(root, "fchmod", "fd=3 mode=0x1a4")
    t.add(root, "open", 'dfd=-100 path="/tmp/new\nline" flags=0x8241 mode=0x1a4')
    t.raw(b'rest" flags=0x8241 mode=0x1a4')
    t.add(root, "open_r", "ret=-13")
    # network: a TCP socket, connect, bind, IPv6, UDP to DNS, a Unix socket
    t.syscall(root, 41, [2, 1, 0], 5)
    t.enter(root, 42, [5, 0x7FFF0000, 16])
    t.add(root, "connect", f"fam=2 port={wire_port(443)} addr={wire_ipv4('93.184.216.34')} "
          "a6hi=0x0 a6lo=0x0 len=16")  # fmt: skip
    t.add(root, "connect_r", "ret=0")
    t.leave(root, 42, 0)
    hi, lo = wire_ipv6("2001:db8::1")
    t.add(root, "connect", f"fam=10 port={wire_port(80)} addr=0 a6hi={hi:#x} a6lo={lo:#x} len=28")
    t.add(root, "connect_r", "ret=-111")
    t.add(root, "bind", f"fam=2 port={wire_port(31337)} addr=0 a6hi=0x0 a6lo=0x0 len=16")
    t.add(root, "udpsend", f"daddr=0 dport=0 fam=2 port={wire_port(53)} "
          f"addr={wire_ipv4('10.0.2.3')} a6hi=0x0 a6lo=0x0 size=40")  # fmt: skip
    unix = int.from_bytes(b"/run/x\0\0", "little")
    t.add(root, "connect", f"fam=1 port=0 addr={unix} a6hi=0x0 a6lo=0x0 len=9")
    t.add(root, "connect_r", "ret=-2")
    t.add(root, "ptrace", "request=0 pid=0")
    # a thread, a child, a pid reused, an i386 program
    t.syscall(root, 56, [0x3D0F00], 301)
    t.add(301, "sys_enter", "NR 39 (0, 0, 0, 0, 0, 0)", tgid=root)
    t.fork(root, 302)
    t.add(302, "argv__i386", 'argc=2 a0="/tmp/x86" a1="-d" a2=(fault) a3=(fault) a4=(fault) '
          "a5=(fault) a6=(fault) a7=(fault)", comm="x86")  # fmt: skip
    t.add(302, "sched_process_exec", "filename=/tmp/x86 pid=302 old_pid=302", comm="x86")
    t.syscall(302, 5, [0, 0, 0], 3, comm="x86")
    t.open(302, "/proc/self/status", comm="x86")
    t.exit(302, 9, comm="x86")
    t.fork(root, 302)
    t.open(302, "/etc/hosts")
    t.exit(302, 0x100)
    t.exit(root, 0)
    return t


def _kitchen(out: Path) -> None:
    out.mkdir(parents=True)
    (out / "trace.log").write_bytes(b"\n".join(_kitchen_trace().lines) + b"\n")
    (out / "sample.bin").write_bytes(b"\x7fELF" + bytes(60))
    write_run_meta(
        RunMeta(
            analysis_id="golden-kitchen",
            sample_name="kitchen",
            timeout=30,
            root_pid=300,
            clock_sync=CLOCK,
        ),
        out,
    )


CASES: dict[str, Callable[[Path], None]] = {
    "basic": _basic,
    "workers": _workers,
    "kitchen": _kitchen,
}
"""Golden case name -> builder of its results directory."""
__all__ = ["BENCH_ROOT_PID", "CASES", "GOLDEN", "build", "golden_report"]


def build(name: str, base: Path) -> Path:
    """The results directory of case ``name`` under ``base``, postprocessed (no user YARA
    rules, whatever the environment says)."""
    import os
    from unittest import mock

    from aasee.processing.pipeline import process_directory

    out = base / name
    CASES[name](out)
    with mock.patch.dict(os.environ, {"AASEE_YARA_RULES": str(base / "no-user-rules")}):
        process_directory(out)
    return out


def golden_report(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((GOLDEN / f"{name}.report.json").read_text("utf-8"))
    return data


def _write() -> None:
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            out = build(name, Path(tmp))
            shutil.copy(out / "report.json", GOLDEN / f"{name}.report.json")
            print(name, (out / "report.json").stat().st_size)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.unit.processing.golden --write")
    _write()
