"""``aasee export`` and ``aasee report-html`` on real results directories."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import stix2
from click.testing import CliRunner
from html_reports import basic_report

from aasee.cli.export_commands import register
from aasee.processing.report import report_dict, write_report


@click.group()
def cli() -> None:
    """Test group."""


register(cli)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_report(basic_report(), tmp_path / "report.json")
    return tmp_path


def test_export_misp_to_stdout(results: Path) -> None:
    outcome = CliRunner().invoke(cli, ["export", str(results), "--format", "misp"])
    assert outcome.exit_code == 0, outcome.output
    event = json.loads(outcome.stdout)["Event"]
    assert any(a["value"] == "198.51.100.7" for a in event["Attribute"])


def test_export_stix_to_file(results: Path) -> None:
    out = results / "bundle.json"
    outcome = CliRunner().invoke(
        cli, ["export", str(results), "--format", "stix", "--out", str(out)]
    )
    assert outcome.exit_code == 0, outcome.output
    bundle = stix2.parse(out.read_text("utf-8"), allow_custom=False)
    assert bundle.type == "bundle"


def test_report_html_rerenders(results: Path) -> None:
    outcome = CliRunner().invoke(cli, ["report-html", str(results)])
    assert outcome.exit_code == 0, outcome.output
    html = (results / "report.html").read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "/tmp/hello.txt" in html


@pytest.mark.parametrize("command", [["export", "--format", "misp"], ["report-html"]])
def test_missing_report(tmp_path: Path, command: list[str]) -> None:
    outcome = CliRunner().invoke(cli, [*command[:1], str(tmp_path), *command[1:]])
    assert outcome.exit_code == 2
    assert "report.json does not exist" in outcome.output


def test_not_json(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{not json")
    outcome = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "stix"])
    assert outcome.exit_code == 2 and "is not JSON" in outcome.output


def test_schema_invalid_report(tmp_path: Path) -> None:
    data = report_dict(basic_report())
    data["sample"]["size"] = -1
    data["processes"][0]["pid"] = "\x1b[31mone"
    (tmp_path / "report.json").write_text(json.dumps(data))
    outcome = CliRunner().invoke(cli, ["report-html", str(tmp_path)])
    assert outcome.exit_code == 2
    assert "is not a valid report" in outcome.output and "sample/size" in outcome.output
    assert "\x1b" not in outcome.output
    assert not (tmp_path / "report.html").exists()


def test_unknown_format_is_refused(results: Path) -> None:
    outcome = CliRunner().invoke(cli, ["export", str(results), "--format", "csv"])
    assert outcome.exit_code == 2
