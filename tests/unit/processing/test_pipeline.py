"""The postprocessing pipeline: plugin order, failure containment, results directories and
``aasee reprocess``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from aasee.cli.main import main as cli
from aasee.processing.models import AnalysisMeta, Sample
from aasee.processing.pipeline import (
    PipelineError,
    all_plugins,
    order_plugins,
    process_directory,
    process_results,
    run_plugins,
)
from aasee.processing.plugins.base import Plugin, ProcessingContext
from aasee.processing.report import validate_report
from aasee.processing.run_meta import RunMeta, RunMetaError, read_run_meta, write_run_meta

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
CLOCK = (5.0, 1_700_000_000.0)


def _plugin(name: str, after: tuple[str, ...] = (), action: Any = None) -> Plugin:
    class Step(Plugin):
        pass

    Step.name = name
    Step.after = after
    step = Step()
    step.run = action or (lambda context: context.errors.append(f"ran {name}"))  # type: ignore[method-assign]
    return step


def _context(**fields: Any) -> ProcessingContext:
    sample = Sample(name="s", size=0, md5="", sha1="", sha256="", type=None)
    return ProcessingContext(sample=sample, analysis=AnalysisMeta(id="x"), artefacts={}, **fields)


class TestOrder:
    def test_dependencies_first_ties_in_given_order(self) -> None:
        plugins = [_plugin("c", ("b",)), _plugin("a"), _plugin("b", ("a",)), _plugin("d")]
        assert [p.name for p in order_plugins(plugins)] == ["a", "b", "c", "d"]

    def test_cycle_is_refused(self) -> None:
        with pytest.raises(PipelineError, match="cycle"):
            order_plugins([_plugin("a", ("b",)), _plugin("b", ("a",))])

    def test_bundled_plugins_order(self) -> None:
        names = [p.name for p in order_plugins(all_plugins())]
        assert names.index("behaviour") < names.index("capture") < names.index("signatures")
        assert names.index("static") < names.index("dropped") < names.index("signatures")
        assert names[-1] == "score"


class TestRun:
    def test_a_failing_plugin_is_recorded_and_the_rest_run(self) -> None:
        def boom(context: ProcessingContext) -> None:
            raise RuntimeError("kaput")

        context = _context()
        run_plugins(context, [_plugin("first"), _plugin("broken", (), boom), _plugin("last")])
        assert context.errors == [
            "ran first",
            "postprocessing plugin broken failed: RuntimeError: kaput",
            "ran last",
        ]

    def test_missing_artefacts_skip_the_plugin(self) -> None:
        class NeedsPcap(Plugin):
            name = "needs"
            requires: ClassVar[tuple[str, ...]] = ("network.pcap",)

            def missing(self, context: ProcessingContext, absent: list[str]) -> str | None:
                return f"skipped: {absent}"

            def run(self, context: ProcessingContext) -> None:
                raise AssertionError("must not run")

        context = _context()
        run_plugins(context, [NeedsPcap()])
        assert context.errors == ["skipped: ['network.pcap']"]


def _results(tmp_path: Path, sample: bytes = b"#!/bin/sh\necho hi\n") -> Path:
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(BASIC, out / "trace.log")
    (out / "sample.bin").write_bytes(sample)
    (out / "stdout.txt").write_bytes(b"hello\n")
    write_run_meta(
        RunMeta(
            analysis_id="t-1",
            sample_name="dropper.sh",
            started="2024-05-01T12:00:00Z",
            ended="2024-05-01T12:01:00Z",
            timeout=60,
            root_pid=117,
            initial_cwd="/tmp",
            clock_sync=CLOCK,
            exits=[{"pid": 117, "time": CLOCK[1] + 3.0, "code": 7}],
            errors=["a note from the run"],
        ),
        out,
    )
    return out


class TestResultsDirectory:
    def test_full_report_written_and_valid(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        data = process_results(out)
        validate_report(data)
        assert json.loads((out / "report.json").read_text()) == data
        assert (out / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
        assert data["sample"]["name"] == "dropper.sh"
        assert data["static"]["sha256"] == data["sample"]["sha256"]
        assert data["processes"][0]["pid"] == 117
        assert data["verdict"] in ("benign", "suspicious", "malicious")
        assert "a note from the run" in data["errors"]
        assert data["output"]["stdout"] == "hello\n"

    def test_reprocess_gives_the_same_report(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        first = process_results(out)
        (out / "report.json").unlink()
        second = process_results(out)
        assert first == second

    def test_missing_sample_copy_is_reported_not_fatal(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        (out / "sample.bin").unlink()
        data = process_results(out)
        assert data["static"] is None
        assert any("sample.bin is missing" in e for e in data["errors"])

    def test_plugin_timings(self, tmp_path: Path) -> None:
        result = process_directory(_results(tmp_path))
        assert {"behaviour", "static", "signatures", "score", "html"} <= set(result.seconds)

    def test_not_a_results_directory(self, tmp_path: Path) -> None:
        with pytest.raises(RunMetaError, match="not the results directory"):
            read_run_meta(tmp_path)
        (tmp_path / "run.json").write_text("{not json")
        with pytest.raises(RunMetaError, match="invalid"):
            read_run_meta(tmp_path)


class TestReprocessCommand:
    def test_reprocess_rewrites_the_report(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        result = CliRunner().invoke(cli, ["reprocess", str(out)])
        assert result.exit_code == 0, result.output
        assert "postprocessing:" in result.output
        validate_report(json.loads((out / "report.json").read_text()))

    def test_reprocess_of_a_plain_directory_is_bad_input(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(cli, ["reprocess", str(tmp_path)])
        assert result.exit_code == 2
        assert "not the results directory" in result.output


class TestFloodAndOneRecordPerLine:
    def test_a_flood_record_is_reported_with_its_program(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        flood = (
            f"{'<flood-guard>':>16}-0       (-------) [000] .....     5.900000: "
            "flood: pid=122 events=10001 window_ms=1000\n"
        )
        with (out / "trace.log").open("a") as trace:
            trace.write(flood)
        data = process_results(out)
        validate_report(data)
        (entry,) = data["analysis"]["trace"]["floods"]
        assert entry["pid"] == 122 and entry["events"] == 10001 and entry["window_ms"] == 1000
        assert entry["process"] == "/bin/ls"  # pid 122 runs ls in trace-basic.log
        assert entry["time"] is not None
        assert any("task 122 (/bin/ls) flooded the trace" in e for e in data["errors"])

    def test_a_line_break_inside_a_record_is_a_nul_in_the_trace(self, tmp_path: Path) -> None:
        out = _results(tmp_path)
        forged = "sshd-1 (1) [000] ..... 5.95: sched_process_exit: comm=sshd pid=1 prio=120"
        line = (
            f"{'sample':>16}-117     (    117) [000] .....     5.950000: open: "
            f'(do_filp_open+0x0/0x160) dfd=-100 path="/tmp/a\x00{forged}" flags=0x8241 '
            "mode=0x81a4\n"
        )
        with (out / "trace.log").open("a") as trace:
            trace.write(line)
        data = process_results(out)
        written = [w["path"] for w in data["files"]["written"]]
        assert f"/tmp/a\n{forged}" in written, written
        assert 1 not in {p["pid"] for p in data["processes"]}
