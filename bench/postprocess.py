"""Postprocessing throughput: MB of kernel trace turned into a report per second.

Builds a large synthetic trace in the exact format the in-guest tracer writes (a sample that
forks workers which open, write, rename, delete files, connect out and make raw syscalls), puts
it in a results directory with ``run.json`` and a sample copy, and runs the whole pipeline
(``process_directory``: every plugin, report.json and report.html). The baseline, measured in
the same run on the same file, is reading the trace line by line with the same reader and
nothing else; the figure to quote is pipeline MB/s and its ratio to that baseline.

    python bench/postprocess.py [--mb 100] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aasee.processing.pipeline import process_directory  # noqa: E402
from aasee.processing.run_meta import SAMPLE_COPY, RunMeta, write_run_meta  # noqa: E402
from aasee.processing.trace_parser import read_trace_lines  # noqa: E402
from tests.unit.processing.tracegen import Trace, started, wire_ipv4, wire_port  # noqa: E402

ROOT_PID = 500


def _worker_round(trace: Trace, pid: int, n: int) -> None:
    trace.fork(ROOT_PID, pid)
    trace.exec(pid, "/usr/bin/busybox", ["busybox", "sh", "-c", f"job {n}"], comm="busybox")
    for i in range(20):
        trace.syscall(pid, 257, [0xFFFFFF9C, 0x1000, 0x241, 0o644], 3, comm="busybox")
        trace.open(pid, f"/tmp/work/{n}/file-{i}.dat", flags=0x8241, mode=0o644, comm="busybox")
        trace.syscall(pid, 1, [3, 0x2000, 4096], 4096, comm="busybox")
        trace.syscall(pid, 3, [3], 0, comm="busybox")
    trace.add(
        pid,
        "connect",
        f"fd=4 family=2 port={wire_port(4444)} addr={wire_ipv4('198.51.100.7')}",
        comm="busybox",
    )
    trace.add(pid, "connect_r", "ret=0", comm="busybox")
    trace.exit(pid, 0, comm="busybox")


def synthetic_trace(path: Path, megabytes: int) -> int:
    trace = started(ROOT_PID, "/tmp/sample", ["/tmp/sample"])
    written = 0
    n = 0
    with path.open("wb") as handle:
        while written < megabytes << 20:
            _worker_round(trace, 1000 + n % 30000, n)
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


def _results_dir(base: Path, megabytes: int) -> tuple[Path, int]:
    out = base / "results"
    out.mkdir()
    size = synthetic_trace(out / "trace.log", megabytes)
    (out / SAMPLE_COPY).write_bytes(b"#!/bin/sh\nwhile true; do job; done\n")
    write_run_meta(
        RunMeta(analysis_id="bench", sample_name="sample", root_pid=ROOT_PID, timeout=60), out
    )
    return out, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the synthetic trace")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aasee-bench-"))
    try:
        out, size = _results_dir(base, args.mb)
        mb = size / 1e6
        baseline, pipeline = [], []
        seconds: dict[str, float] = {}
        for _ in range(args.runs):
            start = time.perf_counter()
            lines = sum(1 for _ in read_trace_lines(out / "trace.log"))
            baseline.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = process_directory(out)
            pipeline.append(time.perf_counter() - start)
            seconds = result.seconds
        base_s, pipe_s = statistics.median(baseline), statistics.median(pipeline)
        figures = {
            "trace_mb": round(mb, 1),
            "trace_lines": lines,
            "baseline_read_s": round(base_s, 3),
            "baseline_mb_per_s": round(mb / base_s, 1),
            "pipeline_s": round(pipe_s, 3),
            "pipeline_mb_per_s": round(mb / pipe_s, 2),
            "pipeline_vs_read": round(pipe_s / base_s, 2),
            "plugins_s": seconds,
            "report_json_mb": round((out / "report.json").stat().st_size / 1e6, 2),
            "processes": len(result.data["processes"]),
            "signatures": [m["id"] for m in result.data["signatures"]],
        }
        print(json.dumps(figures, indent=2))
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "postprocess.json").write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
