"""The sandbox worker: takes tasks off the analysis queue and runs each in a VM, one at a time.

What it can run (its guest images, the sandbox kinds its host supports, free VM slots, host
load: ``fleet.Capabilities``) goes with every heartbeat into its row of the ``workers`` table;
it reads only the queues of the (image, sandbox kind) pairs it reported (``fleet``).

For one task: claim it in the database, fetch the sample from storage, run the VM without
postprocessing (``run_analysis(..., postprocess=False)``) in this process's main thread (a
restored VM dies with the thread that started it), report phases and progress, store the raw
artefacts, and hand the task to the postprocess queue. A heartbeat thread keeps the task and
the worker row fresh; when the task is taken away (deleted, or given to another attempt by
the reaper) the run is stopped. SIGTERM or Ctrl-C stops the VM, cleans it up and puts the task
back in the queue (or fails it when its attempts are used up).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aasee.images.store import ImageError, list_images
from aasee.service import lifecycle
from aasee.service.db import Database
from aasee.service.fleet import Capabilities, arches_of, host_load, host_sandboxes
from aasee.service.lifecycle import Claim, route_of_options
from aasee.service.queue import QueueError, Queues
from aasee.service.settings import Settings, SettingsError, internet_uplink
from aasee.service.storage import Storage, task_prefix

if TYPE_CHECKING:
    from aasee.contexts.qemu_config import QemuConfig
    from aasee.contexts.warm_pool import WarmPool

log = logging.getLogger(__name__)

Progress = Callable[[str, float | None], None]
# (settings, sample, out_dir, options, progress, run_id): runs the VM, leaves the raw artefacts
# in out_dir.
Acquire = Callable[[Settings, Path, Path, dict[str, Any], Progress, str], None]
PROGRESS_WRITE_SECONDS = 1.0
# Written by the analysis itself, or rebuilt by postprocessing: not stored as raw artefacts.
NOT_RAW = frozenset({"sample.bin", "report.json", "report.html"})


class WorkerStopped(BaseException):
    """SIGTERM or Ctrl-C: stop now (a BaseException so no ``except Exception`` eats it)."""


class TaskAbandoned(Exception):
    """The task is no longer this run's: deleted, or reaped and given to another attempt."""


class NotRetryable(Exception):
    """The task itself cannot be analysed (bad sample, missing image): fail it at once."""


def worker_name(kind: str, index: int = 0, pid: int | None = None) -> str:
    """Unique per process: the supervisor derives a dead child's name from its pid."""
    return f"{socket.gethostname()}:{pid or os.getpid()}:{kind}-{index}"


def run_acquisition(
    settings: Settings,
    sample: Path,
    out_dir: Path,
    options: dict[str, Any],
    progress: Progress,
    run_id: str,
) -> None:
    """The real acquisition: one VM run through ``aasee.service.analysis``."""
    from pydantic import ValidationError

    from aasee.service.analysis import AnalysisOptions, SampleError, run_analysis

    try:
        analysis_options = AnalysisOptions.model_validate(options)
    except ValidationError as exc:
        raise NotRetryable(f"the task's options are invalid: {exc.errors()[:1]}") from exc
    uplink = None
    if analysis_options.network == "internet":
        try:
            uplink = internet_uplink(settings)
        except SettingsError as exc:
            raise NotRetryable(f"this worker cannot run it: {exc}") from exc
    try:
        run_analysis(
            sample,
            out_dir,
            analysis_options,
            progress,
            analysis_id=run_id,
            postprocess=False,
            internet=uplink,
        )
    except (SampleError, ImageError) as exc:
        raise NotRetryable(str(exc)) from exc


def local_images(settings: Settings) -> list[str]:
    """``name:arch`` of the guest images this host can run."""
    try:
        return [f"{i.name}:{i.arch}" for i in list_images(settings.home / "images")]
    except ImageError as exc:
        log.warning("guest images unreadable: %s", exc)
        return []


DEFAULT_GUEST_MIB = 1024


def default_image(images: list[str]) -> str | None:
    """The guest scripts and x86-64 programs go to (what most tasks use), among ``name:arch``."""
    from aasee.service.routing import RoutingError, route_sample

    available = [(name, arch) for name, _, arch in (e.partition(":") for e in images)]
    try:
        return route_sample(b"#!/bin/sh\n", None, available).image
    except RoutingError:
        return None


def warm_pool_admits(config: QemuConfig) -> bool:
    """A warm VM may be made when the host has room for it and one VM more: an idle worker's
    warm VM must not keep a busy host's next task waiting."""
    from aasee.contexts.host_budget import vm_memory_mib
    from aasee.service.analysis import host_budget

    return host_budget().free_slots(vm_memory_mib(config.memory_mib)) >= 2


class Overdue(Exception):
    """The work went past its time limit; raised in the main thread by the watchdog."""


def _raise_overdue(_signum: int, _frame: Any) -> None:
    raise Overdue


class Heartbeat:
    """A thread that keeps one task (or just the worker) alive in the database, and the
    watchdog of its time limit: past ``limit`` seconds it interrupts the main thread with
    ``Overdue`` (SIGUSR1), so a hung VM or parser cannot hold a task for ever."""

    def __init__(
        self, beat: Callable[[], bool], interval: float, limit: float | None = None
    ) -> None:
        self.beat = beat
        self.interval = interval
        self.limit = limit
        self.lost = threading.Event()
        self.overdue = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._previous: Any = None
        self._armed = False

    def __enter__(self) -> Heartbeat:
        if self.limit is not None and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR1, _raise_overdue)
            self._armed = True
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)
        if self._armed:
            signal.signal(signal.SIGUSR1, self._previous)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._expired():
                return
            try:
                if not self.beat():
                    self.lost.set()
                    return
            except Exception:
                # A database hiccup is not a lost task: the next beat may succeed, and the
                # reaper decides only after stale_after_seconds of silence.
                log.exception("heartbeat failed")

    def _expired(self) -> bool:
        if self.limit is None or time.monotonic() - self._started < self.limit:
            return False
        self.overdue.set()
        if self._armed:
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGUSR1)
        else:
            # No way to interrupt the work: stop vouching for it and let the reaper act.
            self.lost.set()
        return True


class QueueWorker:
    """The loop both kinds of worker share: heartbeat, take a task id, handle it, repeat."""

    kind: str
    settings: Settings
    name: str
    db: Database
    queues: Queues
    current: str | None
    images: list[str]
    _last_beat: float

    def _dequeue(self, wait: float) -> str | None:
        raise NotImplementedError

    def _ready(self) -> str:
        raise NotImplementedError

    def run_one(self, task_id: str) -> object:
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        """What this worker reports with its heartbeat (a postprocess worker: its host)."""
        return Capabilities(host=host_load())

    def beat(self) -> bool:
        lifecycle.beat_worker(
            self.db,
            self.name,
            self.kind,
            socket.gethostname(),
            os.getpid(),
            self.current,
            self.images,
            self.capabilities().model_dump(mode="json"),
        )
        self._last_beat = time.monotonic()
        return True

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Serve the queue until ``stop`` is set or a WorkerStopped arrives."""
        stop = stop or threading.Event()
        os.environ["AASEE_HOME"] = str(self.settings.home)
        self.beat()
        log.info("%s", self._ready())
        try:
            while not stop.is_set():
                if time.monotonic() - self._last_beat >= self.settings.heartbeat_seconds:
                    self.beat()
                try:
                    task_id = self._dequeue(wait=1.0)
                except QueueError as exc:
                    log.error("%s; retrying in 5 s", exc)
                    stop.wait(5)
                    continue
                if task_id is not None:
                    self.run_one(task_id)
        finally:
            lifecycle.forget_worker(self.db, self.name)
            self.db.dispose()


class SandboxWorker(QueueWorker):
    kind = "sandbox"

    def __init__(
        self,
        settings: Settings,
        name: str | None = None,
        acquire: Acquire = run_acquisition,
    ) -> None:
        self.settings = settings
        self.name = name or worker_name("sandbox")
        self.acquire = acquire
        self.db = Database(settings.database_url)
        self.queues = Queues(settings.queue_url)
        self.storage = Storage.from_url(settings.storage_url)
        self.images = local_images(settings)
        usable, refused = host_sandboxes()
        # The kinds this host can run, among those the service offers (a worker host's
        # settings may leave one out: ``sandboxes``).
        self.sandboxes = [kind for kind in usable if kind in settings.sandboxes]
        self.unavailable = dict(refused)
        self.current: str | None = None
        self._last_beat = 0.0
        self.pool: WarmPool | None = None
        self._warm_memory = DEFAULT_GUEST_MIB

    def routes(self) -> list[tuple[str, str]]:
        """The (image, sandbox kind) queues this worker reads."""
        names = [entry.partition(":")[0] for entry in self.images]
        return [(name, kind) for name in names for kind in self.sandboxes]

    def capabilities(self) -> Capabilities:
        from aasee.contexts.host_budget import vm_memory_mib
        from aasee.service.analysis import host_budget

        budget = host_budget()
        free: int | None
        try:
            free = budget.free_slots(vm_memory_mib(self._warm_memory))
        except (OSError, KeyError, ValueError) as exc:
            log.warning("cannot read the host's VM budget: %s", exc)
            free = None
        pool = self.pool
        return Capabilities(
            images=list(self.images),
            arches=arches_of(self.images),
            sandboxes=list(self.sandboxes),
            unavailable=self.unavailable,
            free_slots=free,
            vm_limit=budget.max_vms(os.cpu_count() or 1),
            warm_vms=pool.warm_count() if pool is not None else 0,
            host=host_load(),
        )

    def run_forever(self, stop: threading.Event | None = None) -> None:
        os.environ["AASEE_HOME"] = str(self.settings.home)
        self._start_pool()
        try:
            super().run_forever(stop)
        finally:
            self._stop_pool()

    # --- the warm pool ----------------------------------------------------------------------
    def _start_pool(self) -> None:
        if not self.settings.warm_pool:
            return
        from aasee.contexts.warm_pool import WarmPool, set_active_pool
        from aasee.service.analysis import warm_up_guest

        self.pool = WarmPool(admit=warm_pool_admits, warm_up=warm_up_guest)
        set_active_pool(self.pool)
        default = default_image(self.images)
        if default is not None:
            self._keep_warm(default, {})

    def _stop_pool(self) -> None:
        if self.pool is None:
            return
        from aasee.contexts.warm_pool import set_active_pool

        set_active_pool(None)
        self.pool.close()
        self.pool = None

    def _keep_warm(self, image: str, options: dict[str, Any]) -> None:
        """Keep the next VM warm for tasks like this one (the next task likely looks alike)."""
        if self.pool is None:
            return
        from pydantic import ValidationError

        from aasee.service.analysis import AnalysisOptions, warm_target

        try:
            wanted = AnalysisOptions.model_validate({**options, "image": image})
            target = warm_target(image, wanted)
        except (ValidationError, ImageError, ValueError, OSError) as exc:
            log.warning("nothing kept warm for image %s: %s", image, exc)
            return
        if target is not None:
            self.pool.keep_warm(target)
            self._warm_memory = target.config.memory_mib

    def _dequeue(self, wait: float) -> str | None:
        if not self._has_room():
            # Leave the task in the queue for a worker with room (here or on another host).
            time.sleep(wait)
            return None
        return self.queues.dequeue_analysis(self.routes(), wait)

    def _has_room(self) -> bool:
        from aasee.contexts.host_budget import vm_memory_mib
        from aasee.service.analysis import host_budget

        if self.pool is not None and self.pool.warm_count() > 0:
            return True
        return host_budget().free_slots(vm_memory_mib(self._warm_memory)) >= 1

    def _ready(self) -> str:
        return (
            f"sandbox worker {self.name} ready (images: {', '.join(self.images)}; "
            f"sandboxes: {', '.join(self.sandboxes)})"
        )

    def run_one(self, task_id: str) -> None:
        claim = lifecycle.claim_for_analysis(self.db, task_id, self.name)
        if claim is None:
            log.info("task %s is not pending any more; skipped", task_id)
            return
        self.current = task_id
        self._beat_quietly()  # the Workers page shows the task now, not a heartbeat later
        scratch = self.settings.scratch_dir / claim.run_id
        try:
            self._analyse(claim, scratch)
        except WorkerStopped:
            outcome = lifecycle.retry_or_fail(
                self.db,
                task_id,
                claim.run_id,
                f"worker {self.name} was stopped during the analysis",
                self.settings.task_retries,
            )
            self._resend(task_id, claim, outcome)
            raise
        finally:
            self.current = None
            shutil.rmtree(scratch, ignore_errors=True)
            self.beat()
        self._keep_warm(str(claim.options.get("image")), claim.options)

    def _beat_quietly(self) -> None:
        try:
            self.beat()
        except Exception:
            # Only the worker's row: the task is claimed and its own heartbeat decides.
            log.exception("worker heartbeat failed")

    def _resend(self, task_id: str, claim: Claim, outcome: str | None) -> None:
        if outcome == "retry":
            try:
                self.queues.analysis(*route_of_options(claim.options)).enqueue(
                    task_id, claim.priority
                )
            except QueueError as exc:
                log.warning(
                    "task %s back to pending but not queued: %s (the reaper will)", task_id, exc
                )

    def _analyse(self, claim: Claim, scratch: Path) -> None:
        task_id, run_id = claim.task_id, claim.run_id
        settings = self.settings
        images = {entry.partition(":")[0] for entry in self.images}
        image = str(claim.options.get("image"))
        if image not in images:
            lifecycle.fail(
                self.db,
                task_id,
                f"worker {self.name} has no guest image '{image}' (it has: "
                f"{', '.join(sorted(images)) or 'none'}); build it with "
                f"`aasee image build --name {image}`",
                run_id,
            )
            return
        inbox = scratch / "in"
        out_dir = scratch / "out"
        inbox.mkdir(parents=True)
        # The display name only: sanitised at submission, a single plain path component.
        sample = inbox / (claim.filename or "sample")
        self.storage.download(f"{task_prefix(task_id)}/sample.bin", sample)
        limit = float(claim.options["timeout"]) + settings.run_grace_seconds
        beat = lambda: self._task_beat(task_id, run_id)  # noqa: E731
        try:
            with Heartbeat(beat, settings.heartbeat_seconds, limit) as hb:
                progress = self._progress(task_id, run_id, hb)
                self.acquire(settings, sample, out_dir, claim.options, progress, run_id)
                if hb.lost.is_set():
                    raise TaskAbandoned(task_id)
                progress("storing artefacts", None)
                stored = self.storage.put_tree(f"{task_prefix(task_id)}/raw", out_dir, skip=NOT_RAW)
        except TaskAbandoned:
            log.warning("task %s was taken away from run %s; stopped", task_id, run_id)
            self._drop_if_deleted(task_id)
            return
        except NotRetryable as exc:
            lifecycle.fail(self.db, task_id, str(exc), run_id)
            return
        except Overdue:
            reason = (
                f"the run took longer than its limit of {limit:g} s (the sample's timeout "
                f"plus {settings.run_grace_seconds:g} s for the sandbox) and was stopped"
            )
            self._retry(claim, reason)
            return
        except Exception as exc:
            log.exception("analysis of task %s failed", task_id)
            self._retry(claim, f"sandbox failure: {exc}")
            return
        if lifecycle.acquired(self.db, task_id, run_id, stored):
            try:
                self.queues.postprocess.enqueue(task_id, claim.priority)
            except QueueError as exc:
                log.warning("task %s not queued for postprocessing yet: %s", task_id, exc)
        else:
            self._drop_if_deleted(task_id)

    def _retry(self, claim: Claim, reason: str) -> None:
        outcome = lifecycle.retry_or_fail(
            self.db, claim.task_id, claim.run_id, reason, self.settings.task_retries
        )
        self._resend(claim.task_id, claim, outcome)

    def _drop_if_deleted(self, task_id: str) -> None:
        """A task deleted while it ran: what this run stored must not outlive it."""
        if not lifecycle.exists(self.db, task_id):
            self.storage.delete_prefix(task_prefix(task_id))

    def _task_beat(self, task_id: str, run_id: str) -> bool:
        alive = lifecycle.heartbeat(self.db, task_id, run_id)
        self.beat()
        return alive

    def _progress(self, task_id: str, run_id: str, hb: Heartbeat) -> Progress:
        last: dict[str, Any] = {"phase": None, "at": 0.0}

        def progress(phase: str, fraction: float | None) -> None:
            if hb.lost.is_set():
                raise TaskAbandoned(task_id)
            now = time.monotonic()
            # Phase changes are written at once, fraction ticks at most once a second.
            if phase == last["phase"] and now - last["at"] < PROGRESS_WRITE_SECONDS:
                return
            last.update(phase=phase, at=now)
            if not lifecycle.report_progress(self.db, task_id, run_id, phase, fraction):
                raise TaskAbandoned(task_id)

        return progress


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise WorkerStopped once in the main thread; later ones are ignored
    so the cleanup they started is not cut short."""
    fired = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if fired.is_set():
            return
        fired.set()
        raise WorkerStopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
