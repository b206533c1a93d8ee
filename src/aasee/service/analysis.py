"""One analysis, end to end: route the sample, bring a sandbox up, let the hooks work, report.

The driver is short on purpose: it picks the guest (from the sample's ELF header, unless an
image is named), asks the sandbox kind for its boot plans, and for each plan builds an
``Environment`` whose hooks do the work on events (agent channel, clock, tracer, sample
runner, capture, dropped files...): power on, wait for the end of the run, power off. What
the hooks announce is collected into ``run.json``; processing builds the report once the VM
is gone (a report is never built while holding a VM).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aasee.arch import ArchProfile
from aasee.contexts.accel import AccelChoice, choose_accel
from aasee.contexts.host_budget import CONTAINER_MIB, HostBudget, HostFull, vm_memory_mib
from aasee.contexts.libvirt_connection import LibvirtUnavailable
from aasee.contexts.qemu_config import ContextError, GuestSpec, QemuConfig
from aasee.contexts.sandboxes import BootPlan, SandboxRequest, get_sandbox
from aasee.contexts.snapshots import Snapshot, create_snapshot, find_snapshot
from aasee.contexts.uplink import InternetUplink
from aasee.contexts.warm_pool import WarmTarget
from aasee.core import (
    ConfigError,
    Environment,
    Event,
    HandlerError,
    HookLoadError,
    load_hooks_config,
)
from aasee.guest.client import AgentClient, AgentError
from aasee.guest.probes import new_seal, plan_for
from aasee.hooks import DEFAULT_HOOKS, OPTIONAL_HOOKS
from aasee.images.providers import ProviderConfig, provider_from_config
from aasee.images.store import (
    GuestImage,
    ImageError,
    aasee_home,
    cache_dir,
    image_dir,
    list_images,
    snapshot_root,
)
from aasee.processing.pipeline import process_results
from aasee.service.options import AnalysisOptions
from aasee.service.report_inputs import RunRecord, keep_sample_copy, write_run_record
from aasee.service.routing import Routed, RoutingError, route_sample

__all__ = [
    "AnalysisError",
    "AnalysisOptions",
    "AnalysisResult",
    "SampleError",
    "check_sample",
    "make_snapshot",
    "qemu_config",
    "resolve_image",
    "run_analysis",
    "vm_limit",
    "warm_target",
    "warm_up_guest",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, float | None], None]
MAX_SAMPLE_BYTES = 256 << 20
# Hooks of the service layer (they need processing's trace reading), after the bundled ones:
# dropped files are collected once the tracer has stopped.
SERVICE_HOOKS = ("aasee.service.dropped.DroppedFilesHook",)
RESTORE_READY_TIMEOUT = 15.0


ROOM_WAIT_SECONDS = 3600.0
"""How long an analysis waits for the host's budget to admit its VM before it fails."""


def host_budget() -> HostBudget:
    """The VM budget of this host (read live at every admission, shared by its processes)."""
    return HostBudget(aasee_home() / "runs")


def vm_limit() -> int:
    """How many VMs this host runs at once by its CPU count and ``AASEE_MAX_VMS`` (memory may
    admit fewer at a given moment)."""
    return host_budget().max_vms(os.cpu_count() or 1)


class AnalysisError(Exception):
    """The sandbox failed (not the sample): nothing trustworthy was produced."""


class SampleError(AnalysisError):
    """The sample given cannot be analysed (missing, empty, unreadable, too large, no guest)."""


@dataclass
class AnalysisResult:
    analysis_id: str
    out_dir: Path
    report: dict[str, Any] | None
    """The report, or None when postprocessing was left for later (``postprocess=False``)."""
    wall_seconds: float
    executed: bool = True
    not_executed_reason: str | None = None


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


def resolve_image(name: str, provider: dict[str, Any] | None = None) -> GuestImage:
    config = provider or {"name": name}
    try:
        return provider_from_config(ProviderConfig.model_validate(config)).image
    except ImageError:
        raise
    except ValueError as exc:
        raise ImageError(f"invalid image provider configuration: {exc}") from exc


def local_image_arches() -> list[tuple[str, str]]:
    """(name, architecture) of the guest images built on this host."""
    return [(image.name, image.arch) for image in list_images(image_dir())]


def choose_guest(
    data: bytes,
    options: AnalysisOptions,
    images: list[tuple[str, str]] | None = None,
    image_provider: dict[str, Any] | None = None,
) -> tuple[Routed, GuestImage]:
    """The guest a sample runs in: routed by its header among ``images`` (default: local)."""
    if image_provider is not None:
        named = ProviderConfig.model_validate(image_provider).name
        image = resolve_image(options.image or named, image_provider)
        available = [(image.name, image.arch)]
        wanted: str | None = image.name
    else:
        available = local_image_arches() if images is None else images
        wanted = options.image
    try:
        routed = route_sample(data, wanted, available)
    except RoutingError as exc:
        raise SampleError(str(exc)) from exc
    image = resolve_image(routed.image, image_provider)
    return routed, image


def _hooks_configuration(
    options: AnalysisOptions,
    sample: Path,
    out_dir: Path,
    profile: ArchProfile,
    hooks_config: str | None,
) -> dict[str, Any]:
    generic: dict[str, Any] = {
        "results_dir": str(out_dir),
        "sample_path": str(sample),
        "sample_name": sample.name,
        "timeout": options.timeout,
        "arguments": list(options.arguments),
        "user": options.user,
        "raw_syscalls": options.raw_syscalls,
        "stop_on_exit": options.stop_on_exit,
        "early_end": not options.full_timeout,
        "arch": profile.name,
        "agent_ready_timeout": options.boot_timeout,
    }
    hooks: list[dict[str, Any]] = [
        {"name": name, **({"optional": True} if name in OPTIONAL_HOOKS else {})}
        for name in (*DEFAULT_HOOKS, *SERVICE_HOOKS)
    ]
    if hooks_config:
        extra = load_hooks_config(hooks_config)
        generic.update(extra.configuration)
        for spec in extra.hooks:
            # A bundled hook named again is configured in its place, not loaded twice.
            index = next((i for i, h in enumerate(hooks) if h["name"] == spec.name), None)
            if index is None:
                hooks.append(spec.model_dump())
            else:
                hooks[index] = spec.model_dump()
    return {"configuration": generic, "hooks": hooks}


class _Watcher:
    """Collects the facts hooks announce through events while the VM runs."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.done = threading.Event()
        self.agent_ready = False
        self.end_reason = "timeout"
        self.stamps: dict[str, float] = {}
        """Monotonic times of the start-up milestones: vm_start, agent_ready, sample_started."""

    def __call__(self, event: Event) -> None:
        name = event.name
        record = self.record
        if name == "agent_ready":
            self.agent_ready = True
            record.agent_version = event.ping.agent_version
            record.guest_kernel = event.ping.kernel
            self.stamps.setdefault("vm_start", float(event.vm_running_at))
            self.stamps.setdefault("agent_ready", float(event.ready_at))
        elif name == "sample_started":
            self.stamps.setdefault("sample_started", time.monotonic())
            record.root_pid = int(event.pid)
            record.argv = list(event.argv)
            record.initial_cwd = str(event.cwd)
            record.clock_sync = (float(event.monotonic), float(event.time))
            record.sample_started = float(event.time)
            record.tracer_protection = event.payload.get("tracer_protection")
        elif name == "sample_not_executed":
            record.executed = False
            record.not_executed_reason = str(event.reason)
        elif name == "sample_exited":
            record.exits.append(dict(event.payload))
        elif name == "trace_stopped":
            record.trace_lost = int(event.lost)
            record.trace_truncated = bool(event.truncated)
            record.errors += [f"tracer: {e}" for e in event.errors]
        elif name == "trace_started":
            record.errors += [f"tracer: {e}" for e in event.errors]
        elif name == "guest_clock":
            if record.clock_sync is not None and event.monotonic is not None:
                record.timings["guest_run"] = round(
                    float(event.monotonic) - record.clock_sync[0], 3
                )
        elif name == "dropped_collected":
            record.timings["dropped"] = float(event.seconds)
            record.errors += list(event.errors)
        elif name == "analysis_end":
            if not self.done.is_set():  # the first reason to end is the one that counts
                self.end_reason = str(event.reason)
            self.done.set()


def run_analysis(
    sample: Path,
    out_dir: Path,
    options: AnalysisOptions | None = None,
    progress: Progress | None = None,
    analysis_id: str | None = None,
    postprocess: bool = True,
    *,
    internet: InternetUplink | None = None,
    hooks_config: str | None = None,
    image_provider: dict[str, Any] | None = None,
    images: list[tuple[str, str]] | None = None,
) -> AnalysisResult:
    """Analyse ``sample``; raw artefacts (and, with ``postprocess``, the reports) in ``out_dir``.

    With ``postprocess=False`` only the acquisition runs: the VM slot is released as soon as
    the raw artefacts and ``run.json`` are written, and ``process_results(out_dir)`` builds
    the report later (a service's postprocess worker does). ``internet`` is the uplink of
    ``network="internet"``, which only the server configuration provides; ``images`` the
    (name, architecture) pairs routing may choose from (default: this host's images).
    """
    options = options or AnalysisOptions()
    say = progress or (lambda _phase, _fraction: None)
    analysis_id = analysis_id or str(uuid.uuid4())
    wall_start = time.monotonic()
    data = check_sample(sample)
    if options.network == "internet" and internet is None:
        raise SampleError(
            "network mode 'internet' is disabled: only the server configuration can enable "
            "it (internet_enabled, internet_uplink, internet_dns), never a sample's options"
        )
    routed, image = choose_guest(data, options, images, image_provider)
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
        log.info(
            "analysis %s of %s (%d bytes, %s) on image %s (%s%s)",
            analysis_id,
            sample,
            len(data),
            routed.sample_arch,
            image.name,
            routed.profile.name,
            ", chosen by the user" if routed.overridden else "",
        )
        record = _run(
            sample,
            data,
            out_dir,
            options,
            image,
            routed,
            say,
            analysis_id,
            internet,
            hooks_config,
        )
        started = record.timings.get("sample_started_at")
        if started is not None:
            # From the call (a worker's dequeue) to the sample running: what a warm VM saves.
            record.timings["call_to_sample"] = round(started - wall_start, 3)
        record.timings.pop("sample_started_at", None)
        record.ended = datetime.now(UTC)
        write_run_record(record)
        report = None
        if postprocess:
            say("processing", None)
            report = process_results(out_dir)
        wall = time.monotonic() - wall_start
        log.info("analysis %s finished in %.1f s", analysis_id, wall)
        return AnalysisResult(
            analysis_id, out_dir, report, wall, record.executed, record.not_executed_reason
        )
    finally:
        package_logger.removeHandler(handler)
        handler.close()


class _BootFailed(Exception):
    """The guest did not come up to a ready agent; nothing of the sample ran yet."""


def _run(
    sample: Path,
    data: bytes,
    out_dir: Path,
    options: AnalysisOptions,
    image: GuestImage,
    routed: Routed,
    say: Progress,
    analysis_id: str,
    internet: InternetUplink | None,
    hooks_config_path: str | None,
) -> RunRecord:
    say("choosing accelerator", None)
    try:
        accel: AccelChoice = choose_accel(routed.profile, image.kernel, options.accel, cache_dir())
    except ValueError as exc:
        raise SampleError(str(exc)) from exc
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
        arch=routed.profile.name,
        sample_arch=routed.sample_arch,
    )
    config = qemu_config(image, options, accel, internet)
    try:
        hooks_config = _hooks_configuration(
            options, sample, out_dir, routed.profile, hooks_config_path
        )
    except ConfigError as exc:
        raise AnalysisError(f"hooks configuration: {exc}") from exc
    try:
        sandbox = get_sandbox(options.sandbox)
        plans = sandbox.plan(
            SandboxRequest(config, image.inputs_key, options.revert, snapshot_root())
        )
    except ContextError as exc:
        raise AnalysisError(str(exc)) from exc
    record.sandbox = sandbox.name
    record.hypervisor = sandbox.hypervisor
    record.isolation = sandbox.isolation
    if not plans[0].prepared:
        # A VM made ahead (a warm one) was admitted when it was made.
        memory = CONTAINER_MIB if sandbox.name == "lxc" else vm_memory_mib(config.memory_mib)
        say("waiting for room on this host", None)
        try:
            host_budget().wait_for_room(memory, ROOM_WAIT_SECONDS)
        except HostFull as exc:
            raise AnalysisError(str(exc)) from exc
    for index, plan in enumerate(plans):
        last = index == len(plans) - 1
        try:
            _attempt(plan, hooks_config, analysis_id, options, record, say)
            return record
        except _BootFailed as exc:
            if last:
                raise AnalysisError(str(exc)) from exc
            log.warning("%s failed (%s): trying the next way", plan.description, exc)
            record.errors.append(f"{plan.description} failed, next plan used instead: {exc}")
            record.timings.clear()
    raise AnalysisError("the sandbox offered no way to start")


def _attempt(
    plan: BootPlan,
    hooks_config: dict[str, Any],
    analysis_id: str,
    options: AnalysisOptions,
    record: RunRecord,
    say: Progress,
) -> None:
    record.boot = plan.description
    if plan.restoring:
        # A restored guest answers in well under a second; one that does not within seconds
        # has a broken state and the next plan (a cold boot) is the way out.
        hooks_config = {
            **hooks_config,
            "configuration": {
                **hooks_config["configuration"],
                "agent_ready_timeout": RESTORE_READY_TIMEOUT,
            },
        }
    environment = Environment(plan.factory, hooks_config, identifier=analysis_id)
    watcher = _Watcher(record)
    timings = record.timings
    try:
        say("preparing sandbox", None)
        with environment:
            context = environment.context
            context.subscribe("*", watcher)
            for hook, why in environment.skipped_hooks:
                record.errors.append(f"{hook.rsplit('.', 1)[-1]} not used by this sandbox: {why}")
            t0 = time.monotonic()
            say("restoring guest" if plan.restoring else "booting guest", None)
            try:
                # Hooks act inside power-on: the agent connects, the clock is set, the
                # tracer armed and the sample started, all on post_poweron/agent_ready.
                context.poweron()
            except (ContextError, LibvirtUnavailable, OSError) as exc:
                raise _BootFailed(str(exc)) from exc
            bus_errors = [e for e in environment.errors if isinstance(e, HandlerError)]
            if not watcher.agent_ready:
                failure = next((e for e in bus_errors if e.event == "post_poweron"), None)
                raise _BootFailed(str(failure.error) if failure else "the agent never answered")
            failures = [e for e in bus_errors if e.event == "agent_ready"]
            if failures:
                raise AnalysisError(f"could not start the sample: {failures[0].error}")
            for name, stamp in watcher.stamps.items():
                timings[name] = round(stamp - t0, 3)
            if "sample_started" in watcher.stamps:
                timings["sample_started_at"] = watcher.stamps["sample_started"]
            log.info("sample started as pid %s: %s", record.root_pid, record.argv)
            run_start = time.monotonic()
            say("running sample", 0.0)
            while not watcher.done.wait(0.25):
                elapsed = time.monotonic() - run_start
                say("running sample", min(elapsed / options.timeout, 1.0))
                if not _running(context):
                    watcher.end_reason = "the guest powered off"
                    record.errors.append("the guest stopped before the timeout")
                    break
            record.end_reason = watcher.end_reason
            timings["run"] = round(time.monotonic() - run_start, 3)
            log.info("run ended (%s); powering the VM off", record.end_reason)
            say("collecting evidence", None)
            context.poweroff()
            record.errors += [str(e) for e in environment.errors]
    except (HookLoadError, ContextError, LibvirtUnavailable, AgentError, ImageError) as exc:
        raise AnalysisError(str(exc)) from exc


def _running(context: object) -> bool:
    is_running = getattr(context, "is_running", None)
    return bool(is_running()) if callable(is_running) else True


def qemu_config(
    image: GuestImage,
    options: AnalysisOptions,
    accel: AccelChoice,
    internet: InternetUplink | None = None,
) -> QemuConfig:
    """The VM shape an analysis with these options uses (and a snapshot must match)."""
    profile = image.profile()
    memory = options.memory_mib or profile.emulation.default_memory_mib
    if memory > profile.emulation.max_memory_mib:
        raise SampleError(
            f"{profile.name} guests take at most {profile.emulation.max_memory_mib} MiB, "
            f"not {memory}"
        )
    return QemuConfig(
        guest=GuestSpec(
            image.name,
            image.disk,
            image.kernel,
            image.initrd,
            image.cmdline,
            profile,
            image.hardware_identity(),
        ),
        accel=accel,
        runs_dir=aasee_home() / "runs",
        memory_mib=memory,
        vcpus=options.vcpus,
        network=options.network,
        time_warp=options.time_warp,
        uplink=internet if options.network == "internet" else None,
        display=options.display,
    )


def _agent_ready_and_armed(profile: ArchProfile, raw_syscalls: bool) -> Any:
    """Snapshot readiness: the agent answers and the tracer is armed (saved with the state)."""

    def wait(socket_path: Path, timeout: float) -> dict[str, Any]:
        seal = new_seal()
        with AgentClient(socket_path) as agent:
            agent.connect(timeout=30)
            agent.wait_ready(timeout)
            plan = plan_for(profile, raw_syscalls=raw_syscalls, seal=seal)
            for error in agent.trace_start(
                plan.probes, plan.events, plan.filters, flood_budget=plan.flood_budget
            ):
                log.warning("tracer in snapshot: %s", error)
        return {"trace_seal": seal}

    return wait


def warm_target(image_name: str, options: AnalysisOptions | None = None) -> WarmTarget | None:
    """What a warm pool keeps ready for analyses of ``image_name`` with ``options`` (default
    options: what most submissions use); None when such analyses never restore a snapshot."""
    options = options or AnalysisOptions()
    if options.sandbox != "qemu" or options.revert == "cold" or options.network != "fake":
        # Only the QEMU kind restores, and "internet" VMs carry the operator's uplink.
        return None
    image = resolve_image(image_name)
    profile = image.profile()
    if not profile.emulation.ready_snapshots:
        return None
    root = snapshot_root()
    if not root.is_dir() or not any(root.glob(f"{image.name}-*")):
        # Cheap first: the accelerator probe below may boot a VM.
        return None
    accel = choose_accel(profile, image.kernel, options.accel, cache_dir())
    config = qemu_config(image, options, accel)
    snapshot, reason = find_snapshot(snapshot_root(), image.name, image.inputs_key, config)
    if snapshot is None:
        log.info("nothing to keep warm for %s: %s", image.name, reason)
        return None
    return WarmTarget(config, snapshot)


WARM_UP_SECONDS = 10.0


def warm_up_guest(agent_socket: Path) -> None:
    """Run one throwaway program, untraced, in a guest restored for the warm pool.

    Under TCG a restored guest starts with an empty translation cache: its first program
    start costs about 0.15 s more than the next ones (measured here). A warm VM pays that
    before its task comes; nothing of it is in the sample's trace (the tracer follows only
    the sample's processes), and the program has exited before the VM is paused.
    """
    exited = threading.Event()
    with AgentClient(agent_socket) as agent:
        agent.event_sinks.append(lambda event: exited.set())
        agent.connect(timeout=WARM_UP_SECONDS)
        agent.wait_ready(WARM_UP_SECONDS)
        agent.execute(["/bin/true"], trace=False)
        if not exited.wait(WARM_UP_SECONDS):
            raise AgentError("the warm-up program did not exit")


RESTORE_IDLE_CHECK = 8.0
"""Seconds a guest restored from a new snapshot idles before it must still answer."""


def _stays_responsive(socket_path: Path) -> None:
    """A guest restored from a new snapshot answers, idles (the time warp skips ahead), and
    answers again."""
    with AgentClient(socket_path) as agent:
        agent.connect(timeout=30)
        agent.wait_ready(RESTORE_READY_TIMEOUT)
        time.sleep(RESTORE_IDLE_CHECK)
        agent.wait_ready(10)


def make_snapshot(
    options: AnalysisOptions | None = None, image_name: str | None = None
) -> Snapshot:
    """Boot a guest once to a ready agent and save that state for fast restores."""
    options = options or AnalysisOptions()
    name = image_name or options.image
    if name is None:
        raise ImageError("which image? name one (`aasee image snapshot --name NAME`)")
    image = resolve_image(name)
    profile = image.profile()
    accel = choose_accel(profile, image.kernel, options.accel, cache_dir())
    try:
        return create_snapshot(
            snapshot_root(),
            image.name,
            image.inputs_key,
            qemu_config(image, options, accel),
            _agent_ready_and_armed(profile, options.raw_syscalls),
            options.boot_timeout,
            check_restored=_stays_responsive,
        )
    except (ContextError, AgentError, TimeoutError) as exc:
        raise AnalysisError(f"cannot make a ready snapshot of {image.name}: {exc}") from exc
