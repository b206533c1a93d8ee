"""A bounded report.json: long lists cut to their start, kept whole in files beside it, and
every view of the report (summary, HTML, web page) counting and linking what it cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aasee.cli.summary_view import render_summary
from aasee.processing.html import render_html
from aasee.processing.models import Report
from aasee.processing.pipeline import paged_paths, process_directory
from aasee.processing.plugins.core import BehaviourPlugin
from aasee.processing.report import (
    ReportBounds,
    bound_report,
    full_report,
    read_part,
    report_dict,
    validate_report,
    write_report_files,
)
from aasee.processing.summary import summarize
from aasee.web.report_view import analysis_context

from .tracegen import bench_results

BOUNDS = ReportBounds(items=5, bytes=64 * 1024)
WORKERS = 12


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bounded") / "results"
    bench_results(out, workers=WORKERS)
    process_directory(out, bounds=BOUNDS)
    return out


@pytest.fixture(scope="module")
def whole(results: Path) -> Report:
    return Report.model_validate(full_report(results))


def _bounded(results: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((results / "report.json").read_text("utf-8"))
    return data


class TestResultsDirectory:
    def test_long_lists_are_cut_and_listed(self, results: Path) -> None:
        data = _bounded(results)
        validate_report(data)
        paged = data["paged"]
        assert set(paged) == {
            "processes",
            "process_tree",
            "files.written",
            "files.created",
            "network.connections",
            "syscalls.per_process",
        }
        assert paged["processes"] == {
            "path": "report/processes.jsonl",
            "total": WORKERS + 1,
            "shown": 5,
            "bytes": (results / "report" / "processes.jsonl").stat().st_size,
        }
        assert len(data["processes"]) == 5
        assert len(data["files"]["written"]) == 5
        assert paged["files.written"]["total"] == 20 * WORKERS
        assert len(data["syscalls"]["per_process"]) == 5
        assert data["files"]["read"] == []  # short lists are left whole, unlisted

    def test_files_hold_the_whole_lists_in_order(self, results: Path, whole: Report) -> None:
        data = _bounded(results)
        written = read_part(results, "files.written")
        assert len(written) == 20 * WORKERS
        assert written[:5] == data["files"]["written"]
        counts = read_part(results, "syscalls.per_process")
        assert [entry["key"] for entry in counts[:5]] == list(data["syscalls"]["per_process"])
        roots = read_part(results, "process_tree")
        assert len(roots) == 1 and len(roots[0]["children"]) == WORKERS
        assert len(whole.processes) == WORKERS + 1

    def test_whole_report_is_the_unbounded_one(self, results: Path, whole: Report) -> None:
        # Built again without bounds, the report is what report.json and its files hold.
        again = results.parent / "again"
        bench_results(again, workers=WORKERS)
        unbounded = process_directory(again, bounds=ReportBounds(items=10**6, bytes=10**9))
        assert "paged" not in unbounded.data
        assert not (again / "report").exists()
        expected = dict(unbounded.data)
        got = full_report(results)
        assert got == expected
        assert whole == Report.model_validate(expected)

    def test_tree_is_cut_in_tree_order(self, results: Path) -> None:
        tree = _bounded(results)["process_tree"]
        root = tree[0]
        assert len(root["children"]) == 4  # 5 nodes: the root and its first 4 children
        assert root["truncated"] is True
        assert _bounded(results)["paged"]["process_tree"]["shown"] == 5

    def test_reprocessing_removes_files_of_lists_no_longer_cut(self, tmp_path: Path) -> None:
        out = tmp_path / "results"
        bench_results(out, workers=3)
        process_directory(out, bounds=ReportBounds(items=2))
        assert (out / "report" / "processes.jsonl").is_file()
        data = process_directory(out).data
        assert "paged" not in data
        assert list((out / "report").iterdir()) == []


class TestBoundReport:
    def test_byte_budget_cuts_before_the_item_count(self, whole: Report) -> None:
        bounded, parts = bound_report(whole, ["files.written"], ReportBounds(items=100, bytes=600))
        shown = len(bounded.files.written)
        assert 0 < shown < 10
        assert bounded.paged["files.written"].shown == shown
        assert len(parts["files.written"].splitlines()) == len(whole.files.written)
        assert len(whole.files.written) == 20 * WORKERS  # the report given is left whole

    def test_wildcard_and_unknown_paths(self, whole: Report) -> None:
        bounded, parts = bound_report(whole, ["files.*", "nothing.here", "BAD PATH"], BOUNDS)
        assert set(parts) == {"files.written", "files.created"}

    def test_every_bounded_list_is_declared_by_a_plugin(self) -> None:
        assert "files.*" in BehaviourPlugin.paged
        paths = paged_paths([BehaviourPlugin(), BehaviourPlugin()])
        assert len(paths) == len(set(paths))

    def test_undecodable_strings_are_written_readable(self, whole: Report, tmp_path: Path) -> None:
        hostile = whole.model_copy(deep=True)
        hostile.files.written[7].path = "/tmp/bad\udcffname"
        data = write_report_files(hostile, tmp_path, ["files.written"], BOUNDS)
        assert "paged" in data
        assert read_part(tmp_path, "files.written")[7]["path"] == "/tmp/bad\\xffname"

    def test_small_report_is_written_as_before(self, tmp_path: Path) -> None:
        small = Report.model_validate(full_report_of_basic(tmp_path))
        data = write_report_files(small, tmp_path, paged_paths_all())
        assert "paged" not in data and data == report_dict(small)


def full_report_of_basic(tmp_path: Path) -> dict[str, Any]:
    from .golden import golden_report

    return dict(golden_report("basic"))


def paged_paths_all() -> list[str]:
    from aasee.processing.pipeline import all_plugins

    return paged_paths(all_plugins())


class TestViews:
    def test_summary_counts_what_report_json_cut(self, results: Path) -> None:
        report = Report.model_validate(_bounded(results))
        lines = summarize(report)
        assert f"  … and {WORKERS + 1 - 5} more (all in report/process_tree.jsonl)" in lines
        written = 20 * WORKERS
        assert f"  … and {written - 5} more (all in report/files.written.jsonl)" in lines

    def test_cli_summary_renders(self, results: Path) -> None:
        from rich.console import Console

        console = Console(record=True, width=200)
        render_summary(console, _bounded(results), results, 1.0)
        assert "report/ (long lists whole)" in console.export_text()

    def test_html_from_report_json_links_the_files(self, results: Path) -> None:
        page = render_html(Report.model_validate(_bounded(results)))
        assert f"… and {WORKERS + 1 - 5} more processes not shown" in page
        assert '<a href="report/files.written.jsonl">report/files.written.jsonl</a>' in page
        assert f'Files written <span class="count">({20 * WORKERS})</span>' in page

    def test_web_page_counts_and_links(self, results: Path) -> None:
        context = analysis_context(_bounded(results), "task-1")
        assert context["process_count"] == WORKERS + 1
        assert context["tree_cut"] is True
        assert context["tree_url"] == "/api/v1/tasks/task-1/report/process_tree"
        written = context["files"]["written"]
        assert len(written.items) == 5
        assert written.omitted == 20 * WORKERS - 5
        assert written.part_url == "/api/v1/tasks/task-1/report/files.written"
        assert analysis_context(_bounded(results))["files"]["written"].part_url is None


def test_exports_read_the_whole_lists(results: Path, whole: Report) -> None:
    from aasee.cli.export_commands import load_report

    loaded = load_report(results)
    assert len(loaded.processes) == len(whole.processes) == WORKERS + 1
    assert len(loaded.files.written) == 20 * WORKERS
    assert set(loaded.paged) == set(_bounded(results)["paged"])
