"""A flood cannot hide other behaviour: the guest filters out a task past its budget.

``samples/flooder.sh`` starts ``yes > /dev/null`` (a syscall loop) and, while it runs, writes
a cron job. The flood must be reported (the task, its program, the events it made) and the
cron job must still be in the behaviour sections.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

SAMPLE = Path(__file__).parent / "samples" / "flooder.sh"


def test_a_flood_is_reported_and_hides_nothing(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    options = AnalysisOptions(timeout=30, stop_on_exit=True)
    report = run_analysis(SAMPLE, tmp_path / "out", options).report
    assert report is not None
    validate_report(report)
    assert "flood-done" in report["output"]["stdout"]
    floods = report["analysis"]["trace"]["floods"]
    assert any(f["process"] == "/usr/bin/yes" and f["events"] > 10_000 for f in floods), floods
    assert any("flooded the trace" in e for e in report["errors"]), report["errors"]
    written = {w["path"] for w in report["files"]["written"]}
    assert "/etc/cron.d/after-flood" in written, sorted(written)
    assert "persistence_cron" in {s["id"] for s in report["signatures"]}
