"""What one run leaves behind for processing, and turning it into ``report.json``.

``RunRecord`` is filled while the VM runs (from hook events); once the VM is gone,
``build_and_write_report`` reads the raw artefacts from the results directory and writes the
validated report next to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aasee.contexts.accel import AccelChoice
from aasee.images.store import GuestImage
from aasee.processing.models import AnalysisMeta
from aasee.processing.report import build_report, report_dict, sample_info, validate_report
from aasee.processing.report import write_report as write_report_file

OUTPUT_READ_LIMIT = 1 << 20


@dataclass
class RunRecord:
    analysis_id: str
    sample_path: Path
    sample_bytes: bytes
    out_dir: Path
    image: GuestImage
    accel: AccelChoice
    timeout: float
    started: datetime
    network: str = "isolated"
    ended: datetime | None = None
    root_pid: int | None = None
    argv: list[str] = field(default_factory=list)
    initial_cwd: str = "/"
    clock_sync: tuple[float, float] | None = None
    sample_started: float | None = None
    exits: list[dict[str, Any]] = field(default_factory=list)
    trace_lost: int = 0
    trace_truncated: bool = False
    end_reason: str = "timeout"
    agent_version: str | None = None
    guest_kernel: str | None = None
    boot: str = "cold boot"
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _read_head(path: Path) -> bytes:
    if not path.is_file():
        return b""
    with path.open("rb") as handle:
        return handle.read(OUTPUT_READ_LIMIT)


def build_and_write_report(record: RunRecord) -> dict[str, Any]:
    errors = list(record.errors)
    if record.trace_truncated:
        errors.append("the trace exceeded its size limit and was truncated")
    trace = record.out_dir / "trace.log"
    pcap = record.out_dir / "network.pcap"
    fakenet = record.out_dir / "fakenet.jsonl"
    meta = AnalysisMeta(
        id=record.analysis_id,
        started=record.started,  # type: ignore[arg-type]  # the validator converts datetimes
        ended=record.ended,  # type: ignore[arg-type]
        timeout=record.timeout,
        hypervisor="qemu (libvirt)",
        accel=record.accel.accel,
        guest_image=record.image.name,
        boot=record.boot,
        timings=record.timings,
    )
    report = build_report(
        sample=sample_info(record.sample_path),
        analysis=meta,
        trace_path=trace if trace.is_file() else None,
        pcap_path=pcap if pcap.is_file() else None,
        fakenet_log=fakenet if fakenet.is_file() else None,
        root_pid=record.root_pid,
        initial_cwd=record.initial_cwd,
        clock=record.clock_sync,
        exits=record.exits,
        stdout=_read_head(record.out_dir / "stdout.txt"),
        stderr=_read_head(record.out_dir / "stderr.txt"),
        lost_events=max(record.trace_lost, 0),
        errors=errors,
    )
    write_report_file(report, record.out_dir / "report.json")
    data = report_dict(report)
    validate_report(data)
    return data
