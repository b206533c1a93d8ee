"""Tests of report assembly, writing and JSON Schema validation."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aasee.processing import models
from aasee.processing.models import AnalysisMeta, Report, Sample
from aasee.processing.report import (
    OUTPUT_EXCERPT,
    ReportValidationError,
    build_report,
    load_schema,
    report_dict,
    report_errors,
    sample_info,
    validate_report,
    write_report,
)
from aasee.processing.signatures import models as signature_models
from aasee.processing.static import models as static_models

from .tracegen import started, wire_ipv4, wire_port

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"
SAMPLE = Sample(name="sample", size=4, md5="0" * 32, sha1="0" * 40, sha256="0" * 64, type="ELF")
CLOCK = (5.0, 1_700_000_000.0)


def basic_report(**overrides: Any) -> Report:
    arguments: dict[str, Any] = {
        "sample": SAMPLE,
        "analysis": AnalysisMeta(
            id="t-1",
            started=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            ended="2024-05-01T12:01:00Z",
            timeout=60,
            hypervisor="qemu",
            accel="kvm",
            guest_image="debian-12",
            boot="direct-kernel",
            timings={"boot": 1.25, "run": 30.0},
        ),
        "trace_path": BASIC,
        "root_pid": 117,
        "initial_cwd": "/tmp",
        "clock": CLOCK,
        "exits": [{"ev": "exit", "pid": 117, "time": CLOCK[1] + 3.0, "code": 7}],
        "stdout": b"hello\n",
        "stderr": b"",
    }
    arguments.update(overrides)
    return build_report(**arguments)


@pytest.fixture(scope="module")
def report() -> Report:
    return basic_report()


class TestBuild:
    def test_layout(self, report: Report) -> None:
        data = report_dict(report)
        assert list(data) == [
            "schema_version",
            "sample",
            "analysis",
            "processes",
            "process_tree",
            "files",
            "network",
            "syscalls",
            "output",
            "static",
            "dropped",
            "signatures",
            "attack",
            "score",
            "verdict",
            "score_details",
            "errors",
        ]
        assert data["schema_version"] == "1.2"
        assert data["analysis"]["started"] == "2024-05-01T12:00:00Z"
        assert data["analysis"]["trace"]["lines"] == 369
        assert data["analysis"]["trace"]["events"] == 357
        assert data["errors"] == []

    def test_behaviour_and_times(self, report: Report) -> None:
        root, child = report.processes
        assert child.argv == ["ls", "-l", "/tmp"]
        assert child.start_utc == "2023-11-14T22:13:20.735935Z"
        assert report.network.connections[0].time_utc == "2023-11-14T22:13:20.720970Z"
        # The agent's exit event completes what the trace did not see.
        assert root.exit_code == 7
        assert root.exit == pytest.approx(8.0)
        assert root.exit_utc == "2023-11-14T22:13:23.000000Z"
        assert report.analysis.exits[0].code == 7

    def test_without_clock_times_stay_monotonic(self) -> None:
        report = basic_report(clock=None)
        assert report.processes[1].start == pytest.approx(5.735935)
        assert report.processes[1].start_utc is None
        assert report.processes[0].exit is None and report.processes[0].exit_code == 7

    def test_output_is_bounded_and_escaped(self) -> None:
        report = basic_report(stdout=b"\xff" + b"x" * (2 * OUTPUT_EXCERPT), stderr="oops\udcff")
        assert report.output.stdout.startswith("\\xffxxx")
        assert report.output.stdout_bytes == 2 * OUTPUT_EXCERPT + 1
        assert report.output.stdout_truncated
        assert report.output.stderr == "oops\\xff"

    def test_missing_trace_is_an_error_not_a_crash(self, tmp_path: Path) -> None:
        report = basic_report(trace_path=tmp_path / "absent.log", errors=["boot slow"])
        assert report.processes == []
        assert report.errors[0] == "boot slow"
        assert any("unreadable" in e for e in report.errors)
        validate_report(report_dict(report))
        assert "no kernel trace" in basic_report(trace_path=None).errors[0]

    def test_bad_clock_is_ignored(self) -> None:
        report = basic_report(clock=(float("nan"), 1.0))
        assert report.analysis.clock is None
        assert any("clock" in e for e in report.errors)

    def test_trace_warnings(self, tmp_path: Path) -> None:
        trace = started(10).raw(b"garbage")
        trace.add(10, "chdir", 'path="/x').add(10, "exit", "code=0")
        path = tmp_path / "trace.log"
        path.write_bytes(b"\n".join(trace.lines) + b"\n")
        report = basic_report(trace_path=path, root_pid=10, lost_events=12)
        assert report.analysis.trace.lost == 12
        assert report.analysis.trace.interrupted == 1
        assert report.analysis.trace.skipped == 2
        text = " ".join(report.errors)
        assert "dropped 12 trace events" in text and "forging" in text

    def test_hostile_trace_still_validates(self, tmp_path: Path) -> None:
        trace = started(10)
        trace.add(10, "chmod", 'path="/tmp/\x1b[31mred" mode=0x1ff')
        trace.add(
            10,
            "connect",
            f"fam=2 port={wire_port(1)} addr={wire_ipv4('1.2.3.4')} a6hi=0x0 a6lo=0x0 len=16",
        )
        trace.raw(b"\xff" * 100).raw(b"A" * 70_000)
        trace.fork(10, 11).add(11, "exit", "code=" + "9" * 19).add(
            11, "sched_process_exit", "comm=x pid=11 prio=120"
        )
        path = tmp_path / "trace.log"
        path.write_bytes(b"\n".join(trace.lines) + b"\n")
        report = basic_report(trace_path=path, root_pid=10)
        validate_report(report_dict(report))
        assert report.files.chmod[0].path == "/tmp/\x1b[31mred"


class TestSchema:
    def test_report_validates(self, report: Report) -> None:
        validate_report(report_dict(report))
        assert report_errors(json.loads(json.dumps(report_dict(report)))) == []

    def test_json_round_trip(self, report: Report) -> None:
        assert Report.model_validate(json.loads(json.dumps(report_dict(report)))) == report

    def test_missing_key_fails(self, report: Report) -> None:
        data = report_dict(report)
        del data["files"]
        with pytest.raises(ReportValidationError) as caught:
            validate_report(data)
        assert caught.value.errors == ["(root): 'files' is a required property"]

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("schema_version",), "2.0"),
            (("processes", 0, "pid"), "117"),
            (("network", "connections", 0, "dst_port"), 70000),
            (("files", "written", 0, "unexpected"), 1),
            (("analysis", "trace", "lost"), -1),
        ],
    )
    def test_wrong_values_fail(self, report: Report, path: tuple[Any, ...], value: Any) -> None:
        data = copy.deepcopy(report_dict(report))
        target: Any = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        assert report_errors(data)

    def test_schema_identity(self) -> None:
        schema = load_schema()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "1.2" in schema["$id"]
        assert schema["properties"]["schema_version"]["const"] == models.SCHEMA_VERSION

    def test_schema_documents_every_model_field(self) -> None:
        # The schema is written by hand: it must name exactly the fields of each model, and
        # describe each of them.
        schema = load_schema()
        definitions = schema["$defs"]
        owners = (models, static_models, signature_models)
        for name, definition in definitions.items():
            model = next(getattr(m, name) for m in owners if hasattr(m, name))
            assert issubclass(model, BaseModel)
            assert set(definition["properties"]) == set(model.model_fields), name
            assert set(definition["required"]) == set(model.model_fields), name
            for field, spec in definition["properties"].items():
                if "$ref" not in spec and "anyOf" not in spec:
                    assert spec.get("description"), f"{name}.{field}"
        assert set(schema["properties"]) == set(Report.model_fields)


class TestWrite:
    def test_write_is_pretty_utf8_json(self, report: Report, tmp_path: Path) -> None:
        path = tmp_path / "report.json"
        write_report(report, path)
        text = path.read_text("utf-8")
        assert text.startswith('{\n  "schema_version": "1.2"')
        validate_report(json.loads(text))
        assert list(tmp_path.iterdir()) == [path]

    def test_undecodable_names_are_written(self, tmp_path: Path) -> None:
        sample = SAMPLE.model_copy(update={"name": "bad\udcffname"})
        path = tmp_path / "report.json"
        write_report(basic_report(sample=sample), path)
        assert json.loads(path.read_text("utf-8"))["sample"]["name"] == "bad\\xffname"


def test_sample_info(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    content = b"\x7fELF" + bytes(100)
    path.write_bytes(content)
    info = sample_info(path)
    assert info.name == "s.bin" and info.size == 104
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert info.md5 == hashlib.md5(content).hexdigest()
    assert info.type and "ELF" in info.type
    assert sample_info(path, name="given", file_type="custom").type == "custom"
