"""One process tree for the service: a supervisor, its child processes, and the reaper.

``Supervisor`` starts each child (web server, sandbox workers, postprocess worker) as its own
process, restarts one that dies, and runs the reaper: tasks of a child that died are retried
or failed at once, tasks of any worker whose heartbeat went stale (another host, a hung
process) after ``stale_after_seconds``, and the leftovers of killed VMs on this host (run
directories, network namespaces) are swept. Children get SIGTERM when the supervisor dies
(PR_SET_PDEATHSIG) and on Ctrl-C/SIGTERM, so VMs are cleaned up on every way out.

The command line of each child is given by the caller (the CLI layer, which alone may import
the web app); ``run_sandbox_child`` and ``run_postprocess_child`` are what worker children run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aasee.service import lifecycle
from aasee.service.db import Database
from aasee.service.models import utcnow
from aasee.service.queue import Queues
from aasee.service.settings import Settings
from aasee.service.worker import SandboxWorker, WorkerStopped, stop_on_signals, worker_name

log = logging.getLogger(__name__)

SETTINGS_ENV = "AASEE_SERVICE_SETTINGS"
PARENT_ENV = "AASEE_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 90.0
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec; the setting survives exec.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class ChildSpec:
    """One supervised process: a label, what it is, and its command line."""

    label: str
    kind: str  # "web", "sandbox" or "postprocess"
    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    index: int = 0


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    history: list[str] = field(default_factory=list)


def child_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env[SETTINGS_ENV] = settings.model_dump_json()
    env[PARENT_ENV] = str(os.getpid())
    return env


def child_settings() -> Settings:
    """In a child: the supervisor's settings; exits if the supervisor is already gone."""
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        sys.exit("aasee: the supervising process is gone; exiting")
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        sys.exit(f"aasee: {SETTINGS_ENV} is not set: service children are started by the service")
    return Settings.model_validate_json(raw)


def _child_logging(label: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {label} %(levelname)s %(name)s: %(message)s")
    )
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def run_sandbox_child(index: int) -> int:
    settings = child_settings()
    _child_logging(f"sandbox-{index}")
    stop_on_signals()
    worker = SandboxWorker(settings, name=worker_name("sandbox", index))
    try:
        worker.run_forever()
    except WorkerStopped as stopped:
        log.info("sandbox worker %s stopped (%s)", worker.name, stopped)
    return 0


def run_postprocess_child(index: int) -> int:
    from aasee.service.postprocess import PostprocessWorker

    settings = child_settings()
    _child_logging(f"postprocess-{index}")
    stop_on_signals()
    worker = PostprocessWorker(settings, name=worker_name("postprocess", index))
    try:
        worker.run_forever()
    except WorkerStopped as stopped:
        log.info("postprocess worker %s stopped (%s)", worker.name, stopped)
    return 0


def sweep_vm_leftovers(settings: Settings) -> list[str]:
    """Run directories and network namespaces of analyses whose process is gone."""
    from aasee.contexts.qemu_config import sweep_stale_runs

    try:
        return sweep_stale_runs(settings.home / "runs")
    except OSError as exc:
        log.warning("cannot sweep VM leftovers in %s: %s", settings.home / "runs", exc)
        return []


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    def __init__(self, settings: Settings, specs: list[ChildSpec]) -> None:
        self.settings = settings
        self.children = [_Child(spec) for spec in specs]
        self.stop = threading.Event()
        self.db = Database(settings.database_url)
        self.queues = Queues(settings.queue_url)
        self.env = child_environment(settings)
        self.reap_every = max(1.0, min(settings.heartbeat_seconds, 10.0))

    def _start(self, child: _Child) -> None:
        spec = child.spec
        child.process = subprocess.Popen(
            spec.argv,
            env=self.env,
            pass_fds=spec.pass_fds,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - children are started from one thread
        )
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", spec.label, child.process.pid)

    def _on_exit(self, child: _Child, code: int) -> None:
        assert child.process is not None
        pid = child.process.pid
        spec = child.spec
        how = _exit_description(code)
        log.warning("%s (pid %d) %s", spec.label, pid, how)
        child.process = None
        if spec.kind in ("sandbox", "postprocess"):
            name = worker_name(spec.kind, spec.index, pid)
            self._reap_worker(name, f"worker process {name} {how}")
        if time.monotonic() - child.started_at > 60:
            child.restarts = 0
        delay = RESTART_DELAYS[min(child.restarts, len(RESTART_DELAYS) - 1)]
        child.restarts += 1
        child.next_start = time.monotonic() + delay

    def _reap_worker(self, name: str, reason: str) -> None:
        try:
            outcome = lifecycle.reap_worker(self.db, self.queues, name, reason, self.settings)
            if outcome.retried or outcome.failed:
                log.warning(
                    "%s: retried %s, failed %s",
                    reason,
                    outcome.retried or "-",
                    outcome.failed or "-",
                )
            lifecycle.forget_worker(self.db, name)
        except Exception:
            log.exception("cannot reap the tasks of %s", name)
        sweep_vm_leftovers(self.settings)

    def _reap(self) -> None:
        try:
            result = lifecycle.reap(self.db, self.queues, self.settings, utcnow())
            if result.retried or result.failed or result.resent:
                log.warning(
                    "reaper: retried %s, failed %s, re-sent %s",
                    result.retried or "-",
                    result.failed or "-",
                    result.resent or "-",
                )
        except Exception:
            log.exception("reaper pass failed")
        sweep_vm_leftovers(self.settings)

    def request_stop(self, *_args: Any) -> None:
        self.stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            for child in self.children:
                self._start(child)
            next_reap = time.monotonic()
            while not self.stop.is_set():
                now = time.monotonic()
                for child in self.children:
                    if child.process is not None:
                        code = child.process.poll()
                        if code is not None:
                            self._on_exit(child, code)
                    elif now >= child.next_start:
                        self._start(child)
                if now >= next_reap:
                    self._reap()
                    next_reap = now + self.reap_every
                self.stop.wait(0.5)
        finally:
            self._stop_children()
            self.db.dispose()
        return 0

    def _stop_children(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s: killed", child.spec.label, STOP_GRACE_SECONDS)
                child.process.kill()
                child.process.wait()
        for child in self.children:
            if child.process is not None and child.spec.kind != "web":
                name = worker_name(child.spec.kind, child.spec.index, child.process.pid)
                self._reap_worker(name, f"worker process {name} stopped with the service")
            child.process = None
        sweep_vm_leftovers(self.settings)
