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
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .behaviour import Behaviour, BehaviourBuilder, Limits
from .clock import GuestClock, iso_utc
from .fakenet_log import https_requests
from .linux import signal_name
from .models import (
    AgentExit,
    Analysis,
    AnalysisMeta,
    ClockSync,
    Files,
    Network,
    Output,
    Report,
    Sample,
    Syscalls,
    TraceInfo,
)
from .net_join import attribute_traffic
from .pcap import analyse_pcap
from .text import clean_text, decode_bytes
from .trace_parser import TraceParser, TraceStats, read_trace_lines

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

OUTPUT_EXCERPT = 64 * 1024
"""Bytes of each of stdout and stderr kept in the report."""

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


def _excerpt(data: bytes | str) -> tuple[str, int, bool]:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return decode_bytes(raw[:OUTPUT_EXCERPT]), len(raw), len(raw) > OUTPUT_EXCERPT


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _agent_exits(exits: Iterable[Mapping[str, Any]]) -> list[AgentExit]:
    result = []
    for item in exits:
        epoch = _number(item.get("time"))
        result.append(
            AgentExit(
                pid=_integer(item.get("pid")),
                time=epoch,
                time_utc=iso_utc(epoch),
                code=_integer(item.get("code")),
                signal=_integer(item.get("signal")),
            )
        )
    return result


def _apply_root_exit(
    behaviour: Behaviour, root_pid: int | None, exits: list[AgentExit], clock: GuestClock | None
) -> None:
    """The agent's waitpid() status is authoritative for the root; fill what the trace lacks."""
    if behaviour.root is None:
        return
    root = next((p for p in behaviour.processes if p.key == behaviour.root), None)
    agent = next((e for e in exits if e.pid == root_pid), None)
    if root is None or agent is None:
        return
    if root.exit_code is None and root.exit_signal is None:
        root.exit_code = agent.code
        root.exit_signal = agent.signal
        if agent.signal is not None:
            root.exit_signal_name = signal_name(agent.signal)
    if root.exit is None and agent.time is not None and clock is not None:
        root.exit = clock.to_monotonic(agent.time)
        root.exit_utc = agent.time_utc


def _trace_warnings(stats: TraceStats, lost: int, behaviour: Behaviour) -> list[str]:
    warnings = []
    if lost:
        warnings.append(f"the guest kernel dropped {lost} trace events: behaviour is incomplete")
    if stats.interrupted:
        warnings.append(
            f"{stats.interrupted} trace records were cut short by a trace-like line: the "
            "sample may be forging trace output through names containing line breaks"
        )
    if stats.skipped:
        warnings.append(
            f"{stats.skipped} trace lines skipped ({stats.too_long} too long, "
            f"{stats.malformed} malformed, {stats.garbage} unrecognised)"
        )
    if behaviour.truncated:
        dropped = ", ".join(f"{name} ({n})" for name, n in sorted(behaviour.truncated.items()))
        warnings.append(f"report limits reached, records dropped: {dropped}")
    return warnings


def _behaviour(
    trace_path: str | os.PathLike[str] | None,
    parser: TraceParser,
    builder: BehaviourBuilder,
    errors: list[str],
) -> Behaviour:
    if trace_path is None:
        errors.append("no kernel trace was recorded")
    else:
        try:
            builder.feed_all(parser.parse(read_trace_lines(trace_path)))
        except OSError as exc:
            errors.append(f"kernel trace unreadable: {exc}")
        except Exception as exc:
            # A defect met on hostile input must cost part of the behaviour, not the report.
            logger.exception("trace processing failed")
            errors.append(
                f"trace processing stopped after line {parser.stats.lines}: "
                f"{type(exc).__name__}: {exc}"
            )
    try:
        return builder.finish()
    except Exception as exc:
        logger.exception("behaviour model failed")
        errors.append(f"behaviour model failed: {type(exc).__name__}: {exc}")
        return Behaviour(
            processes=[],
            process_tree=[],
            files=Files(),
            network=Network(),
            syscalls=Syscalls(),
            root=None,
            pre_exec_dropped=builder.pre_exec_dropped,
            truncated=dict(builder.truncated),
            errors=[],
        )


def _add_capture(network: Network, pcap_path: str | os.PathLike[str], errors: list[str]) -> None:
    try:
        captured = analyse_pcap(pcap_path)
    except Exception as exc:
        # A defect met on hostile traffic must cost the capture's part, not the report.
        logger.exception("capture analysis failed")
        errors.append(f"network capture analysis failed: {type(exc).__name__}: {exc}")
        return
    network.flows = captured.flows
    network.dns_traffic = captured.dns
    network.http = captured.http
    network.tls = captured.tls
    network.capture = captured.capture
    errors.extend(f"network capture: {error}" for error in captured.errors)
    try:
        attribute_traffic(network)
    except Exception as exc:
        logger.exception("attributing captured traffic failed")
        errors.append(f"attributing captured traffic failed: {type(exc).__name__}: {exc}")


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
    """Build the report of one analysis.

    ``clock`` is one ``(guest monotonic, guest epoch)`` pair read together by the agent; it
    places trace times on the wall clock. ``exits`` are the agent's exit events (``pid``,
    ``time`` (epoch), ``code`` or ``signal``). ``root_pid`` is the sample's pid as the agent's
    exec reply gave it; ``initial_cwd`` the directory it was started in. ``pcap_path`` is the
    host-side capture of the guest's NIC: its flows, DNS, HTTP and TLS fill the network
    section, attributed to processes through the trace's connections and UDP sends.
    """
    all_errors = [clean_text(str(e)) for e in errors]
    guest_clock = None
    sync = None
    if clock is not None:
        monotonic, epoch = _number(clock[0]), _number(clock[1])
        if monotonic is None or epoch is None:
            all_errors.append("guest clock pairing is not a pair of finite numbers; ignored")
        else:
            guest_clock = GuestClock(monotonic, epoch)
            sync = ClockSync(monotonic=monotonic, epoch=epoch)
    parser = TraceParser()
    builder = BehaviourBuilder(root_pid, initial_cwd, guest_clock, limits)
    behaviour = _behaviour(trace_path, parser, builder, all_errors)
    agent_exits = _agent_exits(exits)
    _apply_root_exit(behaviour, root_pid, agent_exits, guest_clock)
    stats = parser.stats
    lost = max(int(lost_events), 0)
    all_errors += behaviour.errors
    all_errors += _trace_warnings(stats, lost, behaviour)
    if pcap_path is not None:
        _add_capture(behaviour.network, pcap_path, all_errors)
    if fakenet_log is not None:
        try:
            behaviour.network.http += https_requests(
                fakenet_log, behaviour.network.flows, all_errors
            )
        except OSError as exc:
            all_errors.append(f"fake internet log unreadable: {exc}")
    stdout_text, stdout_bytes, stdout_cut = _excerpt(stdout)
    stderr_text, stderr_bytes, stderr_cut = _excerpt(stderr)
    return Report(
        sample=sample,
        analysis=Analysis(
            **analysis.model_dump(),
            clock=sync,
            exits=agent_exits,
            trace=TraceInfo(
                events=stats.parsed,
                lines=stats.lines,
                skipped=stats.skipped,
                lost=lost,
                too_long=stats.too_long,
                malformed=stats.malformed,
                garbage=stats.garbage,
                joined=stats.joined,
                interrupted=stats.interrupted,
                pre_exec_dropped=behaviour.pre_exec_dropped,
                by_event=dict(stats.by_event),
                truncated=dict(behaviour.truncated),
            ),
        ),
        processes=behaviour.processes,
        process_tree=behaviour.process_tree,
        files=behaviour.files,
        network=behaviour.network,
        syscalls=behaviour.syscalls,
        output=Output(
            stdout=stdout_text,
            stderr=stderr_text,
            stdout_bytes=stdout_bytes,
            stderr_bytes=stderr_bytes,
            stdout_truncated=stdout_cut,
            stderr_truncated=stderr_cut,
        ),
        errors=all_errors,
    )


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


def write_report(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the report as indented UTF-8 JSON, replacing ``path`` atomically."""
    text = json.dumps(report_dict(report), indent=2, ensure_ascii=False)
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=".report-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.write("\n")
        os.replace(temporary, target)
    except BaseException:
        # Readers must never see a half-written report; only the temporary file is removed.
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The report JSON Schema shipped with the package."""
    text = resources.files(__package__).joinpath("schema/report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
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


def validate_report(data: Mapping[str, Any]) -> None:
    """Raise :class:`ReportValidationError` unless ``data`` matches the report schema."""
    found = report_errors(data)
    if found:
        raise ReportValidationError(found)
