"""One analysis, end to end: sandbox up, sample in, watch, sandbox down, report out.

This is the orchestration the CLI and (later) the workers share. It builds an
``Environment`` from the libvirt QEMU context and the bundled hooks, drives the VM through
its lifecycle events, and hands the raw artefacts to processing once the VM is gone (a
report is never built while holding a VM).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aasee.contexts.accel import AccelChoice, choose_accel
from aasee.contexts.libvirt_connection import LibvirtUnavailable
from aasee.contexts.libvirt_qemu import ContextError, GuestSpec, LibvirtQemuContext, QemuConfig
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.snapshots import Snapshot, create_snapshot, find_snapshot
from aasee.contexts.uplink import InternetUplink
from aasee.core import (
    ConfigError,
    ContextFactory,
    Environment,
    Event,
    HookLoadError,
    load_hooks_config,
)
from aasee.guest.client import AgentClient, AgentError
from aasee.hooks import DEFAULT_HOOKS
from aasee.images.providers import ProviderConfig, provider_from_config
from aasee.images.store import GuestImage, ImageError, aasee_home, cache_dir, snapshot_root
from aasee.processing.pipeline import process_results
from aasee.service.dropped import collect_dropped, dropped_limits
from aasee.service.report_inputs import RunRecord, keep_sample_copy, write_run_record

log = logging.getLogger(__name__)

Progress = Callable[[str, float | None], None]
MAX_SAMPLE_BYTES = 256 << 20


def _default_max_vms() -> int:
    """Concurrent VMs this host can hold: memory left after 2 GiB for the host, ~1.3 GiB each."""
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available_kib = int(fields["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError):
        return 2
    return max(1, (available_kib - (2 << 20)) // (1300 << 10))


MAX_VMS = int(os.environ.get("AASEE_MAX_VMS", "0")) or _default_max_vms()
VM_SLOTS = threading.BoundedSemaphore(MAX_VMS)


class AnalysisError(Exception):
    """The sandbox failed (not the sample): nothing trustworthy was produced."""


class SampleError(AnalysisError):
    """The sample given cannot be analysed (missing, empty, unreadable, too large)."""


@dataclass
class AnalysisOptions:
    timeout: float = 60.0
    image: str = "debian-bookworm-amd64"
    image_provider: dict[str, Any] | None = None
    accel: str = field(default_factory=lambda: os.environ.get("AASEE_ACCEL", "auto"))
    memory_mib: int = 1024
    vcpus: int = 1
    network: str = "fake"
    arguments: list[str] = field(default_factory=list)
    user: str = "root"
    raw_syscalls: bool = True
    stop_on_exit: bool = False
    time_warp: bool = True
    boot_timeout: float = 180.0
    hooks_config: str | None = None
    revert: str = "auto"  # auto: restore a ready snapshot if one fits, else cold boot
    internet: InternetUplink | None = None
    """The uplink for ``network="internet"``: only the server configuration provides one."""


@dataclass
class AnalysisResult:
    analysis_id: str
    out_dir: Path
    report: dict[str, Any] | None
    """The report, or None when postprocessing was left for later (``postprocess=False``)."""
    wall_seconds: float


def check_sample(path: Path) -> bytes:
    if not path.exists():
        raise SampleError(f"sample {path} does not exist")
    if not path.is_file():
        raise SampleError(f"sample {path} is not a regular file")
    try:
        data = path.read_bytes()
    except PermissionError as exc:
        raise SampleError(f"sample {path} is not readable: {exc.strerror}") from exc
    except OSError as exc:
        raise SampleError(f"cannot read sample {path}: {exc}") from exc
    if not data:
        raise SampleError(f"sample {path} is empty: there is nothing to run")
    if len(data) > MAX_SAMPLE_BYTES:
        raise SampleError(f"sample {path} is larger than {MAX_SAMPLE_BYTES >> 20} MiB")
    return data


def resolve_image(options: AnalysisOptions) -> GuestImage:
    config = options.image_provider or {"name": options.image}
    try:
        return provider_from_config(ProviderConfig.model_validate(config)).image
    except ImageError:
        raise
    except ValueError as exc:
        raise ImageError(f"invalid image provider configuration: {exc}") from exc


def _hooks_configuration(options: AnalysisOptions, sample: Path, out_dir: Path) -> dict[str, Any]:
    generic = {
        "results_dir": str(out_dir),
        "sample_path": str(sample),
        "sample_name": sample.name,
        "timeout": options.timeout,
        "arguments": list(options.arguments),
        "user": options.user,
        "raw_syscalls": options.raw_syscalls,
        "stop_on_exit": options.stop_on_exit,
    }
    hooks: list[dict[str, Any]] = [{"name": name} for name in DEFAULT_HOOKS]
    if options.hooks_config:
        extra = load_hooks_config(options.hooks_config)
        generic.update(extra.configuration)
        hooks += [spec.model_dump() for spec in extra.hooks]
    return {"configuration": generic, "hooks": hooks}


class _Watcher:
    """Collects the facts hooks announce through events while the VM runs."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.done = threading.Event()
        self.end_reason = "timeout"

    def __call__(self, event: Event) -> None:
        name = event.name
        if name == "sample_started":
            self.record.root_pid = int(event.pid)
            self.record.argv = list(event.argv)
            self.record.initial_cwd = str(event.cwd)
            self.record.clock_sync = (float(event.monotonic), float(event.time))
            self.record.sample_started = float(event.time)
        elif name == "sample_exited":
            self.record.exits.append(dict(event.payload))
        elif name == "trace_stopped":
            self.record.trace_lost = int(event.lost)
            self.record.trace_truncated = bool(event.truncated)
            self.record.errors += [f"tracer: {e}" for e in event.errors]
        elif name == "trace_started":
            self.record.errors += [f"tracer: {e}" for e in event.errors]
        elif name == "analysis_end":
            self.end_reason = str(event.reason)
            self.done.set()


def run_analysis(
    sample: Path,
    out_dir: Path,
    options: AnalysisOptions | None = None,
    progress: Progress | None = None,
    analysis_id: str | None = None,
    postprocess: bool = True,
) -> AnalysisResult:
    """Analyse ``sample``; raw artefacts (and, with ``postprocess``, the reports) in ``out_dir``.

    With ``postprocess=False`` only the acquisition runs: the VM slot is released as soon as the
    raw artefacts and ``run.json`` are written, and ``process_results(out_dir)`` builds the
    report later (a service's postprocess worker does).
    """
    options = options or AnalysisOptions()
    say = progress or (lambda _phase, _fraction: None)
    analysis_id = analysis_id or str(uuid.uuid4())
    wall_start = time.monotonic()
    data = check_sample(sample)
    if options.timeout <= 0:
        raise SampleError("timeout must be a positive number of seconds")
    if options.network == "internet" and options.internet is None:
        raise SampleError(
            "network mode 'internet' is disabled: only the server configuration can enable "
            "it (internet_enabled, internet_uplink, internet_dns), never a sample's options"
        )
    image = resolve_image(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "analysis.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    # Several analyses may run at once in one process: each log file takes only the records
    # of the thread running its analysis.
    run_thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == run_thread)
    package_logger = logging.getLogger("aasee")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    try:
        keep_sample_copy(data, out_dir)
        with VM_SLOTS:
            record = _run(sample, data, out_dir, options, image, say, analysis_id)
        record.ended = datetime.now(UTC)
        write_run_record(record)
        report = None
        if postprocess:
            say("processing", None)
            report = process_results(out_dir)
        wall = time.monotonic() - wall_start
        log.info("analysis %s finished in %.1f s", analysis_id, wall)
        return AnalysisResult(analysis_id, out_dir, report, wall)
    finally:
        package_logger.removeHandler(handler)
        handler.close()


def _run(
    sample: Path,
    data: bytes,
    out_dir: Path,
    options: AnalysisOptions,
    image: GuestImage,
    say: Progress,
    analysis_id: str,
) -> RunRecord:
    log.info("analysis %s of %s (%d bytes) on image %s", analysis_id, sample, len(data), image.name)
    say("choosing accelerator", None)
    accel: AccelChoice = choose_accel(image.kernel, options.accel, cache_dir())
    log.info("accelerator: %s — %s", accel.accel, accel.reason)
    record = RunRecord(
        analysis_id=analysis_id,
        sample_path=sample,
        sample_bytes=data,
        out_dir=out_dir,
        image=image,
        accel=accel,
        timeout=options.timeout,
        started=datetime.now(UTC),
        network=options.network,
    )
    qemu = qemu_config(image, options, accel)
    try:
        hooks_config = _hooks_configuration(options, sample, out_dir)
    except ConfigError as exc:
        raise AnalysisError(f"hooks configuration: {exc}") from exc
    snapshot = _usable_snapshot(options, image, qemu, record)
    try:
        if snapshot is not None:
            factory: ContextFactory = lambda ident: QemuProcessContext(  # noqa: E731
                ident, qemu, disk_base=snapshot.disk, state_file=snapshot.state
            )
            try:
                _attempt(
                    factory, "snapshot restore", hooks_config, analysis_id, options, record, say
                )
                return record
            except _BootFailed as exc:
                log.warning("snapshot restore failed (%s): falling back to a cold boot", exc)
                record.errors.append(f"snapshot restore failed, cold boot used instead: {exc}")
                record.timings.clear()
                record.boot = "cold boot (snapshot restore failed)"
        cold: ContextFactory
        if qemu.network in ("fake", "internet"):
            # libvirt cannot start QEMU inside the run's network namespace: same process
            # context as restores, booting instead of restoring.
            cold = lambda ident: QemuProcessContext(ident, qemu)  # noqa: E731
        else:
            cold = lambda ident: LibvirtQemuContext(ident, qemu)  # noqa: E731
        _attempt(
            cold,
            record.boot,
            hooks_config,
            analysis_id,
            options,
            record,
            say,
        )
    except _BootFailed as exc:
        raise AnalysisError(str(exc)) from exc
    return record


class _BootFailed(Exception):
    """The guest did not come up to a ready agent; nothing of the sample ran yet."""


def _usable_snapshot(
    options: AnalysisOptions, image: GuestImage, qemu: QemuConfig, record: RunRecord
) -> Snapshot | None:
    if options.revert == "cold":
        record.boot = "cold boot (requested)"
        return None
    snapshot, reason = find_snapshot(snapshot_root(), image.name, image.inputs_key, qemu)
    if snapshot is None:
        if options.revert == "snapshot":
            raise AnalysisError(f"no usable snapshot: {reason}")
        log.warning("no usable ready snapshot (%s): cold boot", reason)
        record.boot = f"cold boot ({reason})"
    return snapshot


def _attempt(
    factory: ContextFactory,
    boot: str,
    hooks_config: dict[str, Any],
    analysis_id: str,
    options: AnalysisOptions,
    record: RunRecord,
    say: Progress,
) -> None:
    record.boot = boot
    restoring = boot == "snapshot restore"
    environment = Environment(factory, hooks_config, identifier=analysis_id)
    watcher = _Watcher(record)
    timings = record.timings
    agent: AgentClient | None = None
    try:
        say("preparing sandbox", None)
        with environment:
            context = environment.context
            assert isinstance(context, LibvirtQemuContext | QemuProcessContext)
            context.subscribe("*", watcher)
            t0 = time.monotonic()
            say("restoring guest" if restoring else "booting guest", None)
            try:
                context.poweron()
                timings["vm_start"] = round(time.monotonic() - t0, 3)
                agent = AgentClient(context.agent_socket)
                agent.connect(timeout=30)
                # A restored guest answers in well under a second; one that does not within
                # seconds has a broken state and a cold boot is the way out.
                ping = agent.wait_ready(15 if restoring else options.boot_timeout)
            except (ContextError, AgentError, LibvirtUnavailable, TimeoutError) as exc:
                raise _BootFailed(str(exc)) from exc
            timings["agent_ready"] = round(time.monotonic() - t0, 3)
            log.info(
                "agent %s ready %.2f s after VM start (%s, guest kernel %s)",
                ping.agent_version,
                timings["agent_ready"],
                boot,
                ping.kernel,
            )
            record.agent_version = ping.agent_version
            record.guest_kernel = ping.kernel
            agent.set_time(time.time())
            say("starting sample", None)
            context.trigger("agent_ready", agent=agent)
            failures = [e for e in context.bus.errors if e.event == "agent_ready"]
            if failures:
                raise AnalysisError(f"could not start the sample: {failures[0].error}")
            timings["sample_started"] = round(time.monotonic() - t0, 3)
            log.info("sample started as pid %s: %s", record.root_pid, record.argv)
            run_start = time.monotonic()
            while not watcher.done.wait(0.25):
                elapsed = time.monotonic() - run_start
                say("running sample", min(elapsed / options.timeout, 1.0))
                if not context.is_running():
                    watcher.end_reason = "the guest powered off"
                    record.errors.append("the guest stopped before the timeout")
                    break
            record.end_reason = watcher.end_reason
            timings["run"] = round(time.monotonic() - run_start, 3)
            _record_guest_time(agent, record)
            say("collecting dropped files", None)
            collect_start = time.monotonic()
            try:
                collect_dropped(
                    agent,
                    record.out_dir,
                    record.root_pid,
                    record.initial_cwd,
                    errors=record.errors,
                    **dropped_limits(hooks_config["configuration"]),
                )
            except Exception as exc:  # a failed collection must not cost the analysis
                log.exception("dropped file collection failed")
                record.errors.append(f"dropped files not collected: {exc}")
            timings["dropped"] = round(time.monotonic() - collect_start, 3)
            log.info("run ended (%s); powering the VM off", record.end_reason)
            say("stopping guest", None)
            context.poweroff()
            agent.close()
            agent = None
            record.errors += [str(e) for e in context.bus.errors]
    except (
        HookLoadError,
        ContextError,
        LibvirtUnavailable,
        AgentError,
        ImageError,
        TimeoutError,
    ) as exc:
        raise AnalysisError(str(exc)) from exc
    finally:
        if agent is not None:
            agent.close()


def qemu_config(image: GuestImage, options: AnalysisOptions, accel: AccelChoice) -> QemuConfig:
    """The VM shape an analysis with these options uses (and a snapshot must match)."""
    return QemuConfig(
        guest=GuestSpec(image.name, image.disk, image.kernel, image.initrd, image.cmdline),
        accel=accel,
        runs_dir=aasee_home() / "runs",
        memory_mib=options.memory_mib,
        vcpus=options.vcpus,
        network=options.network,
        time_warp=options.time_warp,
        uplink=options.internet if options.network == "internet" else None,
    )


def _agent_ready_and_armed(socket_path: Path, timeout: float) -> None:
    """Snapshot readiness: the agent answers and the tracer is armed (saved with the state)."""
    with AgentClient(socket_path) as agent:
        agent.connect(timeout=30)
        agent.wait_ready(timeout)
        for error in agent.trace_start():
            log.warning("tracer in snapshot: %s", error)


def make_snapshot(options: AnalysisOptions | None = None) -> Snapshot:
    """Boot the guest once to a ready agent and save that state for fast restores."""
    options = options or AnalysisOptions()
    image = resolve_image(options)
    accel = choose_accel(image.kernel, options.accel, cache_dir())
    try:
        with VM_SLOTS:
            return create_snapshot(
                snapshot_root(),
                image.name,
                image.inputs_key,
                qemu_config(image, options, accel),
                _agent_ready_and_armed,
                options.boot_timeout,
            )
    except (ContextError, AgentError, TimeoutError) as exc:
        raise AnalysisError(f"cannot make a ready snapshot: {exc}") from exc


def _record_guest_time(agent: AgentClient, record: RunRecord) -> None:
    """Guest seconds that passed while the sample ran (more than wall time when warped)."""
    if record.clock_sync is None:
        return
    try:
        ping = agent.wait_ready(5)
    except AgentError as exc:
        record.errors.append(f"guest time at the end of the run unknown: {exc}")
        return
    if ping.monotonic is not None:
        record.timings["guest_run"] = round(ping.monotonic - record.clock_sync[0], 3)
