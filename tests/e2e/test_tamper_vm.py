"""A root sample cannot blind the tracer: the guest kernel is locked down under it.

``samples/blinder.sh`` runs as root and, before it persists, tries what blinds an ftrace
based monitor: switching tracing off, clearing the watched-pid filter, reading the probe
list (tracefs and debugfs paths), killing PID 1 and anything that looks like a monitor. Its
cron job and SSH key must still be in the behaviour sections, the attempts must be reported
as tampering, and the report must say that the tracer was protected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.contexts.snapshots import Snapshot
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

SAMPLE = Path(__file__).parent / "samples" / "blinder.sh"


def test_a_root_sample_cannot_switch_the_tracer_off(
    ready_snapshot: Snapshot, tmp_path: Path, no_leftovers: None
) -> None:
    result = run_analysis(SAMPLE, tmp_path / "out", AnalysisOptions(timeout=30, stop_on_exit=True))
    report = result.report
    assert report is not None
    validate_report(report)
    assert report["analysis"]["tracer_protection"] == "lockdown"
    stdout = report["output"]["stdout"]
    assert "blinder-done" in stdout
    # Every attempt failed: nothing was switched off, cleared or read.
    assert "tracing off" not in stdout and "cleared" not in stdout and "probes read" not in stdout

    written = {w["path"] for w in report["files"]["written"]}
    assert "/etc/cron.d/sysupdate" in written, sorted(written)
    assert "/root/.ssh/authorized_keys" in written, sorted(written)
    tamper = [
        w for w in report["files"]["written"] if w["path"] == "/sys/kernel/tracing/tracing_on"
    ]
    assert tamper and all(w.get("ok") is False for w in tamper), tamper

    fired = {s["id"]: s for s in report["signatures"]}
    assert "antianalysis_tracer_tamper" in fired, sorted(fired)
    assert "persistence_cron" in fired, sorted(fired)
    assert "persistence_ssh_authorized_keys" in fired, sorted(fired)
    # The trace went on to the end: the sample's own exit is in it.
    root = report["processes"][0]
    assert root["image"].endswith("blinder.sh") or "blinder.sh" in " ".join(root["argv"]), root
    assert root.get("exit_code") == 0, root
