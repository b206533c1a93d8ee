"""The ``aasee export`` and ``aasee report-html`` commands: share or re-render the report of
a finished analysis from its results directory.

Both read ``DIR/report.json`` and refuse (exit code 2, saying why) a report that is missing,
not JSON, or not valid against the report schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from aasee.cli import exit_codes
from aasee.processing.atomic import write_atomic
from aasee.processing.exports import FORMATS, export
from aasee.processing.html import write_html
from aasee.processing.models import Report
from aasee.processing.report import ReportValidationError, full_report, validate_report
from aasee.processing.text import printable

__all__ = ["ReportInputError", "load_report", "register"]

_SHOWN_ERRORS = 10


class ReportInputError(click.ClickException):
    """The results directory holds no usable report."""

    exit_code = exit_codes.BAD_INPUT


def load_report(directory: Path) -> Report:
    """The validated report of the results directory ``directory``."""
    path = directory / "report.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(
            f"{path} does not exist: give the results directory of an analysis "
            "(the one `aasee analyze --out` wrote)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path} is not JSON: {exc}") from None
    except RecursionError:
        raise ReportInputError(f"{path} is nested too deeply to be a report") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path} is not a report (not a JSON object)")
    try:
        validate_report(data)
        report = Report.model_validate(data)
        if report.paged:
            # The lists report.json shows the start of, whole from the files beside it.
            try:
                whole = full_report(directory, keep_paged=True)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ReportInputError(
                    f"cannot read the lists kept beside {path} (report/): {exc}"
                ) from None
            report = Report.model_validate(whole)
        return report
    except ReportValidationError as exc:
        raise ReportInputError(_invalid(path, exc.errors)) from None
    except ValidationError as exc:
        problems = [f"{'/'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()]
        raise ReportInputError(_invalid(path, problems)) from None
    except RecursionError:
        raise ReportInputError(f"{path} is nested too deeply to be a report") from None


def _invalid(path: Path, problems: list[str]) -> str:
    # Schema messages quote the report's own (hostile) values: no control characters.
    shown = "\n  ".join(printable(p, 300) for p in problems[:_SHOWN_ERRORS])
    rest = len(problems) - _SHOWN_ERRORS
    more = f"\n  … and {rest} more" if rest > 0 else ""
    return f"{path} is not a valid report ({len(problems)} problems):\n  {shown}{more}"


@click.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="misp: a MISP event (JSON import); stix: a STIX 2.1 bundle.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write (default: standard output).",
)
def export_command(directory: Path, fmt: str, out: Path | None) -> None:
    """Export the indicators and findings of the analysis in DIRECTORY as MISP or STIX."""
    report = load_report(directory)
    text = export(report, "misp" if fmt == "misp" else "stix")
    if out is None:
        sys.stdout.write(text)
        return
    try:
        write_atomic(out, text)
    except OSError as exc:
        raise ReportInputError(f"cannot write {out}: {exc}") from None
    click.echo(f"{fmt} export written to {out}", err=True)


@click.command("report-html")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write (default: DIRECTORY/report.html).",
)
def report_html_command(directory: Path, out: Path | None) -> None:
    """Render DIRECTORY/report.json again as the self-contained DIRECTORY/report.html."""
    report = load_report(directory)
    target = out or directory / "report.html"
    try:
        write_html(report, target)
    except OSError as exc:
        raise ReportInputError(f"cannot write {target}: {exc}") from None
    click.echo(str(target))


def register(group: click.Group) -> None:
    """Add ``export`` and ``report-html`` to the ``aasee`` command group."""
    group.add_command(export_command)
    group.add_command(report_html_command)
