"""The task state machine and every change of a task's state, as database transactions.

    pending -> starting_vm -> running -> postprocessing -> reported
       any of the first four -> failed (with a reason)
       starting_vm | running -> pending      (retry: the worker died or was stopped)
       reported | failed -> postprocessing   (re-run postprocessing on the stored artefacts)

Workers claim a task by moving it out of ``pending`` inside a write transaction, so a task id
that reached the queue twice is still analysed once. Every update by a worker names the run it
belongs to (``run_id``): once the reaper has given the task to another attempt, the old
worker's updates are refused and it stops. Retries are bounded by ``settings.task_retries``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aasee.images.store import ImageError, list_images
from aasee.service.db import Database, storable
from aasee.service.fleet import DEFAULT_KIND, sandboxes_of
from aasee.service.models import Task, WorkerHeartbeat, utcnow
from aasee.service.queue import QueueError, Queues, TaskQueue
from aasee.service.settings import Settings

log = logging.getLogger(__name__)

TaskStatus = Literal["pending", "starting_vm", "running", "postprocessing", "reported", "failed"]
STATUSES: tuple[str, ...] = get_args(TaskStatus)
ACQUIRING = ("starting_vm", "running")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"starting_vm", "failed"}),
    "starting_vm": frozenset({"running", "pending", "failed"}),
    "running": frozenset({"postprocessing", "pending", "failed"}),
    "postprocessing": frozenset({"reported", "failed"}),
    "reported": frozenset({"postprocessing"}),
    "failed": frozenset({"postprocessing"}),
}
MAX_REASON = 2000
FORGET_WORKERS_AFTER = timedelta(days=1)


class IllegalTransition(Exception):
    """A change of status the state machine does not allow."""


def transition(task: Task, new: str) -> None:
    if new not in TRANSITIONS.get(task.status, frozenset()):
        raise IllegalTransition(f"task {task.id}: {task.status} -> {new} is not allowed")
    task.status = new


def _fail(task: Task, reason: str) -> None:
    transition(task, "failed")
    task.reason = reason[:MAX_REASON]
    task.substatus = None
    task.progress = None
    task.worker = None
    task.finished = utcnow()


def _locked(session: Session, task_id: str) -> Task | None:
    # Claims are by id and wait for the row (short transactions): SKIP LOCKED here would drop
    # a live queue message whenever the reaper happened to hold the row.
    if not storable(task_id):
        return None
    return session.get(Task, task_id, with_for_update=True)


def _owned(session: Session, task_id: str, run_id: str) -> Task | None:
    task = _locked(session, task_id)
    if task is None or task.run_id != run_id or task.status not in ACQUIRING:
        return None
    return task


# --- submission -----------------------------------------------------------------------------


def available_images(db: Database, settings: Settings) -> dict[str, str]:
    """Guest images a task may ask for (name -> arch): built on this host or offered by a live
    sandbox worker."""
    images: dict[str, str] = {}
    try:
        for image in list_images(settings.home / "images"):
            images[image.name] = image.arch
    except ImageError as exc:
        log.warning("local guest images unreadable: %s", exc)
    horizon = utcnow() - timedelta(seconds=settings.stale_after_seconds)
    with db.read() as session:
        workers = session.scalars(
            select(WorkerHeartbeat).where(
                WorkerHeartbeat.kind == "sandbox", WorkerHeartbeat.seen >= horizon
            )
        ).all()
        for worker in workers:
            for entry in worker.images or []:
                name, _, arch = str(entry).partition(":")
                images.setdefault(name, arch or "unknown")
    return images


def available_sandboxes(db: Database, settings: Settings) -> dict[str, list[str]] | None:
    """Sandbox kinds the live sandbox workers take tasks for (kind -> worker names); None when
    no sandbox worker is alive, so nothing is known (a task then waits in its queue)."""
    horizon = utcnow() - timedelta(seconds=settings.stale_after_seconds)
    kinds: dict[str, list[str]] = {}
    with db.read() as session:
        workers = session.scalars(
            select(WorkerHeartbeat).where(
                WorkerHeartbeat.kind == "sandbox", WorkerHeartbeat.seen >= horizon
            )
        ).all()
        if not workers:
            return None
        for worker in workers:
            for kind in sandboxes_of(worker.capabilities):
                kinds.setdefault(kind, []).append(worker.name)
    return kinds


def no_sandbox_reason(kind: str, available: dict[str, list[str]] | None) -> str | None:
    if available is None or kind in available:
        return None
    offered = ", ".join(sorted(available)) or "none"
    return (
        f"no live sandbox worker can run sandbox {kind!r} (the workers offer: {offered}); "
        "a worker offers lxc when libvirt's LXC driver (libvirt-daemon-driver-lxc) and "
        "bpftrace are installed on its host and its settings list lxc in sandboxes"
    )


def no_image_reason(image: str, available: dict[str, str]) -> str | None:
    if image in available:
        return None
    known = ", ".join(f"{name} ({arch})" for name, arch in sorted(available.items()))
    return (
        f"no built guest image '{image}' on this service (available: {known or 'none'}); "
        f"build it with `aasee image build --name {image}` or choose an available one"
    )


# --- sandbox worker -------------------------------------------------------------------------


@dataclass
class Claim:
    task_id: str
    run_id: str
    attempt: int
    priority: int
    filename: str
    options: dict[str, Any] = field(default_factory=dict)


def claim_for_analysis(db: Database, task_id: str, worker: str) -> Claim | None:
    """Take a pending task for this worker (None if it is not pending any more)."""
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "pending":
            return None
        transition(task, "starting_vm")
        now = utcnow()
        task.attempts += 1
        task.run_id = str(uuid.uuid4())
        task.worker = worker
        task.started = task.started or now
        task.heartbeat = now
        task.substatus = "starting VM"
        task.progress = None
        return Claim(
            task.id, task.run_id, task.attempts, task.priority, task.filename, dict(task.options)
        )


def report_progress(
    db: Database, task_id: str, run_id: str, phase: str, fraction: float | None
) -> bool:
    """Record a phase of the run; False when the task is no longer this run's (stop)."""
    with db.write() as session:
        task = _owned(session, task_id, run_id)
        if task is None:
            return False
        if phase == "running sample" and task.status == "starting_vm":
            transition(task, "running")
        task.substatus = phase[:200]
        task.progress = None if fraction is None else max(0.0, min(float(fraction), 1.0))
        task.heartbeat = utcnow()
        return True


def heartbeat(db: Database, task_id: str, run_id: str) -> bool:
    with db.write() as session:
        task = _owned(session, task_id, run_id)
        if task is None:
            return False
        task.heartbeat = utcnow()
        return True


def acquired(db: Database, task_id: str, run_id: str, artefacts: list[str]) -> bool:
    """The VM run is over and its raw artefacts are stored: hand over to postprocessing."""
    with db.write() as session:
        task = _owned(session, task_id, run_id)
        if task is None:
            return False
        if task.status == "starting_vm":
            transition(task, "running")
        transition(task, "postprocessing")
        task.artefacts = artefacts
        task.worker = None
        task.substatus = "queued for postprocessing"
        task.progress = None
        task.postprocess_attempts = 0
        task.enqueued = utcnow()
        return True


def retry_or_fail(
    db: Database, task_id: str, run_id: str | None, reason: str, retries: int
) -> str | None:
    """After a run that did not finish: back to pending if attempts remain, else failed.

    Returns "retry", "failed", or None when the task was not this run's any more.
    """
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status not in ACQUIRING:
            return None
        if run_id is not None and task.run_id != run_id:
            return None
        return _retry_or_fail(task, reason, retries)


def _retry_or_fail(task: Task, reason: str, retries: int) -> str:
    if task.attempts <= retries:
        transition(task, "pending")
        task.substatus = f"retrying after attempt {task.attempts}: {reason}"[:200]
        task.reason = reason[:MAX_REASON]
        task.worker = None
        task.run_id = None
        task.progress = None
        task.enqueued = utcnow()
        return "retry"
    _fail(task, f"{reason} (after {task.attempts} attempt(s))")
    return "failed"


def exists(db: Database, task_id: str) -> bool:
    if not storable(task_id):
        return False
    with db.read() as session:
        return session.get(Task, task_id) is not None


def fail(db: Database, task_id: str, reason: str, run_id: str | None = None) -> bool:
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status in ("reported", "failed"):
            return False
        if run_id is not None and task.run_id != run_id:
            return False
        _fail(task, reason)
        return True


# --- postprocess worker ---------------------------------------------------------------------


def claim_for_postprocess(db: Database, task_id: str, worker: str) -> list[str] | None:
    """Take a task queued for postprocessing; returns its stored artefact names."""
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker is not None:
            return None
        task.worker = worker
        task.postprocess_attempts += 1
        task.heartbeat = utcnow()
        task.substatus = "postprocessing"
        return list(task.artefacts or [])


def postprocess_heartbeat(db: Database, task_id: str, worker: str) -> bool:
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker != worker:
            return False
        task.heartbeat = utcnow()
        return True


def reported(
    db: Database, task_id: str, worker: str, verdict: str | None, score: float | None
) -> bool:
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker != worker:
            return False
        transition(task, "reported")
        task.verdict = verdict
        task.score = score
        task.reason = None
        task.substatus = None
        task.progress = None
        task.worker = None
        task.finished = utcnow()
        return True


def not_executed(db: Database, task_id: str, worker: str, reason: str) -> bool:
    """Postprocessing found that the sample never ran: the task fails with the reason, its
    report stays available."""
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker != worker:
            return False
        _fail(task, f"the sample was not executed: {reason}")
        task.verdict = "not executed"
        task.score = None
        return True


def release_postprocess(db: Database, task_id: str, worker: str) -> int | None:
    """Give a task back to the postprocess queue (the worker is stopping); its priority."""
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker != worker:
            return None
        task.worker = None
        task.postprocess_attempts = max(0, task.postprocess_attempts - 1)
        task.substatus = "queued for postprocessing"
        task.enqueued = utcnow()
        return task.priority


def postprocess_failed(db: Database, task_id: str, worker: str, reason: str) -> bool:
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None or task.status != "postprocessing" or task.worker != worker:
            return False
        _fail(task, reason)
        return True


def request_reprocess(db: Database, task_id: str) -> Task:
    """Re-run postprocessing of a finished task on its stored artefacts."""
    with db.write() as session:
        task = _locked(session, task_id)
        if task is None:
            raise KeyError(f"no task {task_id}")
        if task.status not in ("reported", "failed"):
            raise ValueError(f"task {task_id} is {task.status}: wait until it has finished")
        if not task.artefacts:
            raise ValueError(f"task {task_id} has no stored raw artefacts to process")
        transition(task, "postprocessing")
        task.worker = None
        task.postprocess_attempts = 0
        task.substatus = "queued for postprocessing"
        task.reason = None
        task.finished = None
        task.enqueued = utcnow()
        return task


# --- the reaper -----------------------------------------------------------------------------


@dataclass
class ReapResult:
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)


def reap(
    db: Database, queues: Queues, settings: Settings, now: datetime | None = None
) -> ReapResult:
    """Find tasks whose worker went silent or whose queue message was lost; fix them.

    Safe to run in several processes at once: each change is a guarded transaction, and rows
    another pass (or a worker) holds are skipped (``SKIP LOCKED`` on PostgreSQL) rather than
    waited for, so passes on several hosts neither queue up nor deadlock.
    """
    now = now or utcnow()
    horizon = now - timedelta(seconds=settings.stale_after_seconds)
    result = ReapResult()
    analysis: list[tuple[str, int, Route]] = []
    postprocess: list[tuple[str, int]] = []
    with db.write() as session:
        stale = session.scalars(
            select(Task)
            .where(Task.status.in_(ACQUIRING), Task.heartbeat < horizon)
            .with_for_update(skip_locked=True)
        ).all()
        for task in stale:
            silence = (now - (task.heartbeat or now)).total_seconds()
            reason = (
                f"worker {task.worker} stopped responding during {task.substatus or task.status}"
                f" (no heartbeat for {silence:.0f} s)"
            )
            _reap_task(task, reason, settings, result, analysis, postprocess, now)
        stuck = session.scalars(
            select(Task)
            .where(
                Task.status == "postprocessing",
                Task.worker.is_not(None),
                Task.heartbeat < horizon,
            )
            .with_for_update(skip_locked=True)
        ).all()
        for task in stuck:
            reason = f"postprocess worker {task.worker} stopped responding"
            _reap_task(task, reason, settings, result, analysis, postprocess, now)
        session.execute(
            delete(WorkerHeartbeat).where(WorkerHeartbeat.seen < now - FORGET_WORKERS_AFTER)
        )
    result.resent += _resend_lost(db, queues, horizon, now)
    _send(queues, analysis, postprocess)
    return result


def reap_worker(
    db: Database, queues: Queues, worker: str, reason: str, settings: Settings
) -> ReapResult:
    """The tasks of a worker known to be dead (its supervisor saw it exit), without waiting
    for its heartbeat to go stale."""
    result = ReapResult()
    analysis: list[tuple[str, int, Route]] = []
    postprocess: list[tuple[str, int]] = []
    now = utcnow()
    with db.write() as session:
        held = session.scalars(
            select(Task)
            .where(Task.worker == worker, Task.status.in_((*ACQUIRING, "postprocessing")))
            .with_for_update()
        ).all()
        for task in held:
            _reap_task(task, reason, settings, result, analysis, postprocess, now)
    _send(queues, analysis, postprocess)
    return result


def _reap_task(
    task: Task,
    reason: str,
    settings: Settings,
    result: ReapResult,
    analysis: list[tuple[str, int, Route]],
    postprocess: list[tuple[str, int]],
    now: datetime,
) -> None:
    if task.status in ACQUIRING:
        outcome = _retry_or_fail(task, reason, settings.task_retries)
        if outcome == "retry":
            result.retried.append(task.id)
            analysis.append((task.id, task.priority, route_of(task)))
        else:
            result.failed.append(task.id)
    elif task.postprocess_attempts <= settings.task_retries:
        task.worker = None
        task.substatus = f"queued for postprocessing again: {reason}"[:200]
        task.enqueued = now
        result.retried.append(task.id)
        postprocess.append((task.id, task.priority))
    else:
        _fail(task, f"{reason} (after {task.postprocess_attempts} attempt(s))")
        result.failed.append(task.id)
    log.warning("task %s: %s", task.id, reason)


def _resend_lost(db: Database, queues: Queues, horizon: datetime, now: datetime) -> list[str]:
    """Waiting tasks whose message is gone: an empty queue while they wait long is the sign."""
    resent: list[str] = []
    analysis: list[tuple[str, int, Route]] = []
    postprocess: list[tuple[str, int]] = []
    empty: dict[str, bool] = {}

    def queue_empty(queue: TaskQueue) -> bool:
        if queue.name not in empty:
            try:
                empty[queue.name] = queue.depth() == 0
            except QueueError as exc:
                log.warning("reaper cannot read the queue: %s", exc)
                empty[queue.name] = False
        return empty[queue.name]

    for status in ("pending", "postprocessing"):
        with db.write() as session:
            waiting = session.scalars(
                select(Task)
                .where(Task.status == status, Task.worker.is_(None), Task.enqueued < horizon)
                .with_for_update(skip_locked=True)
            ).all()
            for task in waiting:
                if status == "pending":
                    route = route_of(task)
                    if not queue_empty(queues.analysis(*route)):
                        continue
                    analysis.append((task.id, task.priority, route))
                else:
                    if not queue_empty(queues.postprocess):
                        continue
                    postprocess.append((task.id, task.priority))
                task.enqueued = now
                resent.append(task.id)
    _send(queues, analysis, postprocess)
    return resent


Route = tuple[str, str]
"""(guest image, sandbox kind): which analysis queue a task waits in."""


def route_of(task: Task) -> Route:
    """The analysis queue of a task: its guest image and its kind of sandbox."""
    return route_of_options(task.options or {})


def route_of_options(options: dict[str, Any]) -> Route:
    image = str(options.get("image") or "unknown")
    return image, str(options.get("sandbox") or DEFAULT_KIND)


def _send(
    queues: Queues, analysis: list[tuple[str, int, Route]], postprocess: list[tuple[str, int]]
) -> None:
    sends = [(queues.analysis(*route), task_id, prio) for task_id, prio, route in analysis]
    sends += [(queues.postprocess, task_id, prio) for task_id, prio in postprocess]
    for queue, task_id, priority in sends:
        try:
            queue.enqueue(task_id, priority)
        except QueueError as exc:
            # The task keeps its state; the next reaper pass sends it again.
            log.warning("task %s not queued yet: %s", task_id, exc)


def beat_worker(
    db: Database,
    name: str,
    kind: str,
    host: str,
    pid: int,
    task_id: str | None,
    images: list[str],
    capabilities: dict[str, Any] | None = None,
) -> None:
    """Record that a worker is alive, what it is doing and (``fleet.Capabilities``) what it
    can run."""
    with db.write() as session:
        row = session.get(WorkerHeartbeat, name)
        now = utcnow()
        if row is None:
            row = WorkerHeartbeat(name=name, kind=kind, host=host, pid=pid, started=now)
            session.add(row)
        row.task_id = task_id
        row.images = images
        row.capabilities = capabilities
        row.seen = now


def forget_worker(db: Database, name: str) -> None:
    with db.write() as session:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
