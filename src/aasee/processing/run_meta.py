"""``run.json``: what the sandbox knew about one run, kept beside the raw artefacts.

The acquisition side (the service) writes it when the VM is gone; processing reads it back, so
a results directory holds everything needed to rebuild the report (``aasee reprocess DIR``)
without the VM or the process that ran it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from aasee.arch import DEFAULT_ARCH

from .atomic import write_atomic
from .modelbase import StrictModel

__all__ = ["RUN_META", "SAMPLE_COPY", "RunMeta", "RunMetaError", "read_run_meta", "write_run_meta"]

RUN_META = "run.json"
SAMPLE_COPY = "sample.bin"
"""The sample's bytes as analysed, kept read-only in the results directory."""

RUN_META_VERSION = 1


class RunMetaError(ValueError):
    """``run.json`` is missing or does not describe a run."""


class RunMeta(StrictModel):
    """What the sandbox knew about the run.

    ``arch`` names the guest's architecture profile (a name or alias ``aasee.arch``
    resolves; the trace is decoded with its syscall ABIs and byte order); ``sample_arch`` is
    how the sample's architecture was named when it was routed (``MIPS (MIPS 32-bit
    big-endian)``), None for scripts or when unknown. ``executed`` is false when the guest could
    not run the sample (the kernel refused it, its interpreter or loader was missing), with
    ``not_executed_reason`` saying why: the report's verdict is then ``not executed``.
    """

    version: int = RUN_META_VERSION
    analysis_id: str
    sample_name: str
    started: str | None = None
    ended: str | None = None
    timeout: float | None = None
    hypervisor: str | None = None
    sandbox: str | None = None
    isolation: str | None = None
    accel: str | None = None
    guest_image: str | None = None
    boot: str | None = None
    network: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    root_pid: int | None = None
    argv: list[str] = Field(default_factory=list)
    initial_cwd: str = "/"
    clock_sync: tuple[float, float] | None = None
    exits: list[dict[str, Any]] = Field(default_factory=list)
    trace_lost: int = 0
    trace_truncated: bool = False
    end_reason: str | None = None
    agent_version: str | None = None
    guest_kernel: str | None = None
    errors: list[str] = Field(default_factory=list)
    arch: str = DEFAULT_ARCH
    sample_arch: str | None = None
    executed: bool = True
    not_executed_reason: str | None = None
    tracer_protection: str | None = None


def write_run_meta(meta: RunMeta, out_dir: Path) -> Path:
    target = out_dir / RUN_META
    write_atomic(target, meta.model_dump_json(indent=2) + "\n")
    return target


def read_run_meta(out_dir: Path) -> RunMeta:
    path = out_dir / RUN_META
    try:
        return RunMeta.model_validate(json.loads(path.read_text("utf-8")))
    except FileNotFoundError as exc:
        raise RunMetaError(
            f"{path} is missing: {out_dir} is not the results directory of an analysis"
        ) from exc
    except (OSError, ValueError, ValidationError) as exc:
        raise RunMetaError(f"{path} is unreadable or invalid: {exc}") from exc
