"""report.json of the 100 MB synthetic trace (the one bench/postprocess.py measures) stays
under its documented ceiling, with every long list whole in the files beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aasee.processing.pipeline import process_directory
from aasee.processing.report import ReportBounds, read_part, validate_report
from tests.unit.processing.tracegen import bench_results

CEILING = 1_000_000
"""Bytes of report.json for the 100 MB synthetic trace (the README quotes it)."""
HTML_CEILING = 2_000_000


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("large") / "results"
    size = bench_results(out, 100)
    assert size >= 100 << 20
    process_directory(out)
    return out


def test_report_json_under_its_ceiling(results: Path) -> None:
    size = (results / "report.json").stat().st_size
    assert size <= CEILING, f"report.json is {size} bytes"
    assert (results / "report.html").stat().st_size <= HTML_CEILING


def test_long_lists_are_kept_whole_beside_it(results: Path) -> None:
    data = json.loads((results / "report.json").read_text("utf-8"))
    validate_report(data)
    paged = data["paged"]
    workers = paged["processes"]["total"] - 1
    assert workers > 5000
    bounds = ReportBounds()
    for name, part in paged.items():
        assert part["shown"] <= bounds.items, name
        assert part["bytes"] == (results / part["path"]).stat().st_size, name
    assert paged["files.written"]["total"] == paged["files.created"]["total"] == 20_000
    assert paged["network.connections"]["total"] == workers
    assert paged["syscalls.per_process"]["total"] == workers + 1
    assert len(read_part(results, "processes")) == workers + 1
    written = read_part(results, "files.written")
    assert len(written) == 20_000
    assert written[: len(data["files"]["written"])] == data["files"]["written"]
    dropped = 20 * workers - 20_000  # past the behaviour model's limit of records per list
    assert data["analysis"]["trace"]["truncated"] == {"created": dropped, "written": dropped}


def test_helper_processes_change_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A trace large enough for every helper process (the parse, the long lists' files, half
    the rules) gives the reports it gives in one process."""
    files = []
    for single in (True, False):
        out = tmp_path_factory.mktemp("helpers") / "results"
        bench_results(out, 20)
        with pytest.MonkeyPatch.context() as patch:
            if single:
                patch.setenv("AASEE_SINGLE_PROCESS", "1")
            else:
                patch.delenv("AASEE_SINGLE_PROCESS", raising=False)
            process_directory(out)
        names = ["report.json", "report.html", *(f"report/{p.name}" for p in out.glob("report/*"))]
        files.append({name: (out / name).read_bytes() for name in sorted(names)})
    assert files[0] == files[1]
