"""Postprocessing throughput: MB of kernel trace turned into a report per second.

Builds a large synthetic trace in the exact format the in-guest tracer writes (a sample that
forks workers which open and write files, open a socket and connect out, with raw syscalls
around it all: ``tests/unit/processing/tracegen.py``, the generator the report-size test
uses), puts it in a results directory with ``run.json`` and a sample copy, and runs the whole
pipeline (``process_directory``: every plugin, report.json with the files of its long lists,
report.html). The baseline, measured in the same run on the same file, is reading the trace
line by line with the same reader and nothing else; the figure to quote is pipeline MB/s and
its ratio to that baseline.

Before the timed runs, the pipeline processes a one-worker trace once: a worker process pays
its one-time costs (importing the signature rules, compiling YARA rules and templates) once,
not per trace, and the figure is a throughput. Cyclic garbage collection is left as the
pipeline sets it. On a large run the pipeline hands work to forked helper processes (the trace's
parse, the files of the long lists, half the signature rules: see ``aasee.processing.forking``);
the figure is wall-clock time, and the CPU seconds of this process and of its helpers are
printed beside it (``AASEE_SINGLE_PROCESS=1`` keeps everything in one process).

    python bench/postprocess.py [--mb 100] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aasee.processing.pipeline import process_directory  # noqa: E402
from aasee.processing.trace_parser import read_trace_lines  # noqa: E402
from tests.unit.processing.tracegen import bench_results  # noqa: E402


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the synthetic trace")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="aasee-bench-"))
    try:
        warm = base / "warm"
        bench_results(warm, workers=1)
        process_directory(warm)
        out = base / "results"
        size = bench_results(out, args.mb)
        mb = size / 1e6
        baseline, pipeline, cpu, helpers = [], [], [], []
        seconds: dict[str, float] = {}
        lines = 0
        for _ in range(args.runs):
            start = time.perf_counter()
            lines = sum(1 for _ in read_trace_lines(out / "trace.log"))
            baseline.append(time.perf_counter() - start)
            before = os.times()
            start = time.perf_counter()
            result = process_directory(out)
            pipeline.append(time.perf_counter() - start)
            after = os.times()
            cpu.append(after.user + after.system - before.user - before.system)
            helpers.append(
                after.children_user
                + after.children_system
                - before.children_user
                - before.children_system
            )
            seconds = result.seconds
        base_s, pipe_s = statistics.median(baseline), statistics.median(pipeline)
        report = result.report
        figures = {
            "trace_mb": round(mb, 1),
            "trace_lines": lines,
            "baseline_read_s": round(base_s, 3),
            "baseline_mb_per_s": round(mb / base_s, 1),
            "pipeline_s": round(pipe_s, 3),
            "pipeline_mb_per_s": round(mb / pipe_s, 2),
            "pipeline_vs_read": round(pipe_s / base_s, 2),
            "pipeline_runs_s": [round(s, 3) for s in pipeline],
            "cpu_s": round(statistics.median(cpu), 3),
            "helpers_cpu_s": round(statistics.median(helpers), 3),
            "plugins_s": seconds,
            "report_json_mb": round((out / "report.json").stat().st_size / 1e6, 3),
            "report_parts_mb": round(_size(out / "report") / 1e6, 2),
            "paged": {name: [part.shown, part.total] for name, part in report.paged.items()},
            "processes": len(report.processes),
            "signatures": [m.id for m in report.signatures],
        }
        print(json.dumps(figures, indent=2))
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "postprocess.json").write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
