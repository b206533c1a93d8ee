"""Assembling, writing and validating the analysis report.

Owns :func:`build_report` (sample facts + run metadata + the behaviour extracted from the
trace + the traffic in the packet capture -> :class:`~aasee.processing.models.Report`),
:func:`write_report` (pretty JSON, atomic) and :func:`validate_report` (against
``schema/report.schema.json``). Building never raises on what the guest produced: problems
end up in the report's ``errors``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .behaviour import Limits
from .models import AnalysisMeta, Report, Sample
from .plugins.base import Plugin, ProcessingContext
from .plugins.core import (
    OUTPUT_EXCERPT,
    BehaviourPlugin,
    CapturePlugin,
    ClockPlugin,
    FakenetPlugin,
    OutputPlugin,
)
from .text import clean_text

__all__ = [
    "OUTPUT_EXCERPT",
    "ReportValidationError",
    "build_report",
    "load_schema",
    "report_dict",
    "report_errors",
    "sample_info",
    "validate_report",
    "write_report",
]

logger = logging.getLogger(__name__)

_MAGIC_PEEK = 1 << 20


class ReportValidationError(ValueError):
    """A report does not match the JSON Schema; ``errors`` lists every mismatch."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("report does not match its schema: " + "; ".join(errors[:5]))
        self.errors = errors


def _magic_type(head: bytes) -> str | None:
    try:
        import magic

        return str(magic.from_buffer(head))
    except Exception as exc:  # libmagic missing or failing must not stop a report
        logger.warning("file type detection failed: %s", exc)
        return None


def sample_info(
    path: str | os.PathLike[str], name: str | None = None, file_type: str | None = None
) -> Sample:
    """Size, hashes and (through libmagic, unless given) the type of the sample file."""
    hashes = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    size = 0
    head = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            if len(head) < _MAGIC_PEEK:
                head += chunk[: _MAGIC_PEEK - len(head)]
            size += len(chunk)
            for digest in hashes:
                digest.update(chunk)
    if file_type is None:
        file_type = _magic_type(head)
    md5, sha1, sha256 = (digest.hexdigest() for digest in hashes)
    return Sample(
        name=clean_text(name if name is not None else os.fsdecode(Path(path).name)),
        size=size,
        md5=md5,
        sha1=sha1,
        sha256=sha256,
        type=file_type,
    )


def build_report(
    *,
    sample: Sample,
    analysis: AnalysisMeta,
    trace_path: str | os.PathLike[str] | None,
    root_pid: int | None,
    initial_cwd: str = "/",
    clock: tuple[float, float] | None = None,
    exits: Iterable[Mapping[str, Any]] = (),
    stdout: bytes | str = b"",
    stderr: bytes | str = b"",
    lost_events: int = 0,
    errors: Iterable[str] = (),
    limits: Limits | None = None,
    pcap_path: str | os.PathLike[str] | None = None,
    fakenet_log: str | os.PathLike[str] | None = None,
) -> Report:
    """Build the observed-behaviour part of a report from explicit inputs.

    ``clock`` is one ``(guest monotonic, guest epoch)`` pair read together by the agent; it
    places trace times on the wall clock. ``exits`` are the agent's exit events (``pid``,
    ``time`` (epoch), ``code`` or ``signal``). ``root_pid`` is the sample's pid as the agent's
    exec reply gave it; ``initial_cwd`` the directory it was started in. ``pcap_path`` is the
    host-side capture of the guest's NIC: its flows, DNS, HTTP and TLS fill the network
    section, attributed to processes through the trace's connections and UDP sends. This runs
    the behaviour plugins only; :func:`aasee.processing.pipeline.process_results` runs them
    all on a results directory.
    """
    artefacts = {
        name: Path(path)
        for name, path in (
            ("trace.log", trace_path),
            ("network.pcap", pcap_path),
            ("fakenet.jsonl", fakenet_log),
        )
        if path is not None
    }
    context = ProcessingContext(
        sample=sample,
        analysis=analysis,
        artefacts=artefacts,
        root_pid=root_pid,
        initial_cwd=initial_cwd,
        clock=clock,
        exit_events=list(exits),
        lost_events=lost_events,
        limits=limits,
        errors=[clean_text(str(e)) for e in errors],
    )
    plugins: list[Plugin] = [ClockPlugin(), BehaviourPlugin(), CapturePlugin(), FakenetPlugin()]
    plugins.append(OutputPlugin(stdout, stderr))
    # The pipeline module imports this one for writing and validating.
    from .pipeline import run_plugins

    run_plugins(context, plugins)
    return context.report()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def report_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (every string valid Unicode)."""
    data: dict[str, Any] = _clean(report.model_dump(mode="json"))
    return data


def write_report(report: Report | Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report (a model or its :func:`report_dict`) as indented UTF-8 JSON, atomically."""
    data = report_dict(report) if isinstance(report, Report) else report
    write_atomic(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The report JSON Schema shipped with the package."""
    folder = resources.files(__package__).joinpath("schema")
    schema: dict[str, Any] = json.loads(folder.joinpath("report.schema.json").read_text("utf-8"))
    # Each report section owned by its own package documents its models in a part of its own
    # under schema/defs/; the parts only add definitions.
    for part in sorted(folder.joinpath("defs").iterdir(), key=lambda p: p.name):
        if part.name.endswith(".json"):
            for name, definition in json.loads(part.read_text("utf-8"))["$defs"].items():
                if name in schema["$defs"]:
                    raise ValueError(f"schema part {part.name} redefines {name}")
                schema["$defs"][name] = definition
    return schema


def report_errors(data: Mapping[str, Any]) -> list[str]:
    """Every way ``data`` departs from the schema, as ``path: message`` strings."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        found.append(f"{where}: {error.message}")
    return found


@lru_cache(maxsize=1)
def _compiled_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    # fastjsonschema knows drafts up to 7; the schema uses no keyword newer than that, and
    # the jsonschema (2020-12) check below is the authority whenever this one objects.
    schema = dict(load_schema(), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    validator: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return validator


def validate_report(data: Mapping[str, Any]) -> None:
    """Raise :class:`ReportValidationError` unless ``data`` matches the report schema.

    A compiled validator takes the common case (a valid report) about ten times faster than
    walking the schema; any objection is then listed in full by the reference validator.
    """
    import fastjsonschema

    try:
        _compiled_validator()(data)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    found = report_errors(data)
    if found:
        raise ReportValidationError(found)
    raise ReportValidationError(["the compiled validator refused what the reference accepts"])
