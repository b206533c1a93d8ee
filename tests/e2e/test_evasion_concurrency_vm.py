"""Sleep-based evasion is defeated, and several analyses run at once without meeting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aasee.images.store import GuestImage
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm


def test_sample_sleeping_600s_shows_its_behaviour_within_60s(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "sleeper.sh"
    sample.write_text("#!/bin/sh\nsleep 600\necho late > /tmp/late.txt\n")
    # The time warp needs TCG: on a KVM host users analyse suspected sleepers with
    # `--accel tcg` (see the README), so that is what is tested whatever the host has.
    options = AnalysisOptions(timeout=60, accel="tcg", stop_on_exit=True)
    result = run_analysis(sample, tmp_path / "out", options)
    report = result.report
    assert report is not None
    assert report["analysis"]["accel"] == "tcg"
    # The sample got through its sleep and exited before the 60 s timeout ended the run
    # (stop_on_exit or the early end, whichever came first).
    reason = json.loads((tmp_path / "out" / "run.json").read_text())["end_reason"]
    assert reason == "sample exited" or reason.startswith("early end"), reason
    assert any(w["path"] == "/tmp/late.txt" for w in report["files"]["written"])
    timings = report["analysis"]["timings"]
    assert timings["guest_run"] >= 600 > timings["run"]


def test_three_jobs_three_reports_nothing_shared_nothing_left(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    samples = []
    for index in range(3):
        sample = tmp_path / f"marker{index}.sh"
        # Each sample writes its own marker and lists every marker it can see.
        sample.write_text(
            "#!/bin/sh\n"
            f"echo {index} > /tmp/marker-{index}\n"
            "sleep 1\n"
            "ls /tmp/ | grep marker- || true\n"
        )
        samples.append(sample)
    out = tmp_path / "batch"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aasee.cli.main",
            "analyze",
            *map(str, samples),
            "--jobs",
            "3",
            "--timeout",
            "8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    reports = sorted(out.glob("*/report.json"))
    assert len(reports) == 3
    for index in range(3):
        report = json.loads((out / f"{index + 1:03d}-marker{index}.sh" / "report.json").read_text())
        seen = report["output"]["stdout"].split()
        assert seen == [f"marker-{index}"], seen
