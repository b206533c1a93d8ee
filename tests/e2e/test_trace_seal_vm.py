"""Sealed traces in a real guest: line breaks in names cannot forge trace records.

``samples/forger.sh`` writes a file whose name holds record-shaped lines (an open of
``/etc/forged-by-sample`` by "sshd", an exit of PID 1), and runs a program whose name holds a
line break. The forged records must not be in the report; the real file, with its whole
name, and what the oddly named program did must be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

SAMPLE = Path(__file__).parent / "samples" / "forger.sh"


@pytest.mark.parametrize("sandbox", ["qemu", "lxc"])
def test_line_breaks_in_names_forge_nothing(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None, sandbox: str
) -> None:
    options = AnalysisOptions(timeout=30, sandbox=sandbox, stop_on_exit=True)
    report = run_analysis(SAMPLE, tmp_path / "out", options).report
    assert report is not None
    validate_report(report)
    assert "forger-done" in report["output"]["stdout"]
    assert not [e for e in report.get("errors", []) if "tracer" in e], report.get("errors")

    written = {w["path"]: w for w in report["files"]["written"]}
    assert "/etc/forged-by-sample" not in written, sorted(written)
    forged_name = next((p for p in written if p.startswith("/tmp/a\n")), None)
    assert forged_name is not None, sorted(written)
    # The container's host tracer reads at most 200 bytes of a string (bpftrace 0.17).
    assert forged_name.endswith("\nz") or sandbox == "lxc", forged_name
    assert "forged-by-sample" in forged_name  # the forged text stayed in the name
    assert "/tmp/written-by-evil" in written, sorted(written)
    pids = {p["pid"] for p in report["processes"]}
    assert 1 not in pids, sorted(pids)
