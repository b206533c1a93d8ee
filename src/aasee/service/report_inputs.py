"""What one run leaves behind for processing.

``RunRecord`` is filled while the VM runs (from hook events); once the VM is gone,
``write_run_record`` saves it as ``run.json`` beside the raw artefacts, from which processing
builds the report (at once, or later on stored artefacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aasee.contexts.accel import AccelChoice
from aasee.images.store import GuestImage
from aasee.processing.models import iso_datetime
from aasee.processing.run_meta import SAMPLE_COPY, RunMeta, write_run_meta


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
    arch: str = "x86_64"
    sample_arch: str | None = None
    sandbox: str = "qemu"
    hypervisor: str = "qemu"
    isolation: str | None = None
    executed: bool = True
    not_executed_reason: str | None = None
    tracer_protection: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def write_run_record(record: RunRecord) -> None:
    """Persist what the run knew as ``run.json`` beside the raw artefacts (for processing)."""
    meta = RunMeta(
        analysis_id=record.analysis_id,
        sample_name=record.sample_path.name,
        started=iso_datetime(record.started),
        ended=iso_datetime(record.ended),
        timeout=record.timeout,
        hypervisor=record.hypervisor,
        sandbox=record.sandbox,
        isolation=record.isolation,
        accel=record.accel.accel,
        guest_image=record.image.name,
        boot=record.boot,
        network=record.network,
        timings=record.timings,
        root_pid=record.root_pid,
        argv=record.argv,
        initial_cwd=record.initial_cwd,
        clock_sync=record.clock_sync,
        exits=record.exits,
        trace_lost=record.trace_lost,
        trace_truncated=record.trace_truncated,
        end_reason=record.end_reason,
        agent_version=record.agent_version,
        guest_kernel=record.guest_kernel,
        arch=record.arch,
        sample_arch=record.sample_arch,
        executed=record.executed,
        not_executed_reason=record.not_executed_reason,
        tracer_protection=record.tracer_protection,
        errors=record.errors,
    )
    write_run_meta(meta, record.out_dir)


def keep_sample_copy(data: bytes, out_dir: Path) -> None:
    """The analysed bytes, read-only in the results directory: static analysis and reprocess."""
    target = out_dir / SAMPLE_COPY
    if target.exists():
        target.chmod(0o600)
    target.write_bytes(data)
    target.chmod(0o400)
