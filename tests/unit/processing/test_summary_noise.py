"""The terminal summary hides shell-redirection noise but the report keeps it."""

from __future__ import annotations

from aasee.processing.models import FileAccess, Report
from aasee.processing.summary import summary_sections


def test_pseudo_devices_hidden_from_summary_only() -> None:
    report = Report.model_validate(
        {
            "sample": {"name": "s", "size": 1, "md5": "0", "sha1": "0", "sha256": "0"},
            "analysis": {"id": "x"},
        }
    )
    for path in ("/dev/null", "/tmp/real.txt", "/dev/shm/payload"):
        report.files.written.append(
            FileAccess(pid=5, process="5@1", time=1.0, path=path, flags="O_WRONLY")
        )
    lines = dict(summary_sections(report))["Files written"]
    assert any("/tmp/real.txt" in line for line in lines)
    assert any("/dev/shm/payload" in line for line in lines)
    assert not any("/dev/null" in line for line in lines)
    assert len(report.files.written) == 3
