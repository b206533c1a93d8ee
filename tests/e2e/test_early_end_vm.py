"""The early end on a real guest: a sample that exits at once frees its VM in under half its
timeout; a sample that daemonizes keeps running (and being watched) for the whole timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aasee.contexts.snapshots import Snapshot
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm
TIMEOUT = 30.0


def _run(tmp_path: Path, name: str, script: str) -> tuple[float, dict[str, object]]:
    sample = tmp_path / name
    sample.write_text(script)
    start = time.monotonic()
    run_analysis(
        sample,
        tmp_path / name.replace(".", "-"),
        AnalysisOptions(timeout=TIMEOUT),
        postprocess=False,
    )
    wall = time.monotonic() - start
    run = json.loads((tmp_path / name.replace(".", "-") / "run.json").read_text())
    return wall, run


def test_a_sample_that_exits_at_once_ends_early(
    ready_snapshot: Snapshot, tmp_path: Path, no_leftovers: None
) -> None:
    wall, run = _run(tmp_path, "quick.sh", "#!/bin/sh\necho done > /tmp/quick.txt\n")
    assert str(run["end_reason"]).startswith("early end"), run["end_reason"]
    assert wall < TIMEOUT / 2, f"the analysis took {wall:.1f} s of a {TIMEOUT:g} s timeout"


def test_a_daemonizing_sample_runs_the_whole_timeout(
    ready_snapshot: Snapshot, tmp_path: Path, no_leftovers: None
) -> None:
    # The parent exits at once; its detached child keeps working in the background.
    script = (
        "#!/bin/sh\n"
        "( trap '' HUP; while true; do date >> /tmp/.beacon; sleep 2; done ) "
        "</dev/null >/dev/null 2>&1 &\n"
        "exit 0\n"
    )
    wall, run = _run(tmp_path, "daemon.sh", script)
    assert run["end_reason"] == "timeout", run["end_reason"]
    timings = run["timings"]
    assert isinstance(timings, dict) and timings["run"] >= TIMEOUT - 0.5, timings
    assert wall >= TIMEOUT
