"""The postprocess worker: raw artefacts in storage -> report.json/report.html, verdict, score.

It never holds a VM: it claims a task queued for postprocessing, fetches the task's raw
artefacts (and sample) into a scratch folder, runs
``aasee.processing.pipeline.process_results`` there, stores both reports and marks the task
``reported``. A failure of processing fails the task with the reason; a postprocess worker that
dies mid-task is noticed by the reaper (its heartbeat stops) and the task is queued again.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aasee.processing.report import PARTS_DIR
from aasee.processing.signatures.models import VERDICTS
from aasee.service import lifecycle
from aasee.service.db import Database
from aasee.service.queue import QueueError, Queues
from aasee.service.settings import Settings
from aasee.service.storage import Storage, task_prefix
from aasee.service.worker import Heartbeat, Overdue, QueueWorker, WorkerStopped, worker_name

log = logging.getLogger(__name__)

Process = Callable[[Path], dict[str, Any]]
REPORTS = ("report.json", "report.html")
REASON_DETAIL = 300  # the whole exception is in the worker's log


def run_pipeline(out_dir: Path) -> dict[str, Any]:
    from aasee.processing.pipeline import process_results

    return process_results(out_dir)


def _verdict(report: dict[str, Any]) -> tuple[str | None, float | None]:
    verdict = report.get("verdict")
    score = report.get("score")
    return (
        verdict if verdict in VERDICTS else None,
        float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
    )


class PostprocessWorker(QueueWorker):
    kind = "postprocess"

    def __init__(
        self, settings: Settings, name: str | None = None, process: Process = run_pipeline
    ) -> None:
        self.settings = settings
        self.name = name or worker_name("postprocess")
        self.process = process
        self.db = Database(settings.database_url)
        self.queues = Queues(settings.queue_url)
        self.storage = Storage.from_url(settings.storage_url)
        self.current: str | None = None
        self.images: list[str] = []
        self._last_beat = 0.0

    def _store_parts(self, prefix: str, out_dir: Path) -> None:
        """The files of the report's long lists (``report/*.jsonl``), stored before the report
        naming them; those of an earlier processing of the task go first."""
        self.storage.delete_prefix(f"{prefix}/{PARTS_DIR}")
        folder = out_dir / PARTS_DIR
        if folder.is_dir() and not folder.is_symlink():
            for part in sorted(folder.glob("*.jsonl")):
                if part.is_file() and not part.is_symlink():
                    self.storage.put_file(f"{prefix}/{PARTS_DIR}/{part.name}", part)

    def _dequeue(self, wait: float) -> str | None:
        return self.queues.postprocess.dequeue(wait=wait)

    def _task_beat(self, task_id: str) -> bool:
        """The task's heartbeat, and the worker's own (its row shows the task it works on)."""
        alive = lifecycle.postprocess_heartbeat(self.db, task_id, self.name)
        self.beat()
        return alive

    def _ready(self) -> str:
        return f"postprocess worker {self.name} ready"

    def run_one(self, task_id: str) -> bool:
        """Postprocess one task; True if it was reported."""
        if lifecycle.claim_for_postprocess(self.db, task_id, self.name) is None:
            log.info("task %s is not waiting for postprocessing; skipped", task_id)
            return False
        self.current = task_id
        scratch = self.settings.scratch_dir / f"postprocess-{uuid.uuid4()}"
        out_dir = scratch / "out"
        beat = lambda: self._task_beat(task_id)  # noqa: E731
        try:
            limit = self.settings.postprocess_timeout_seconds
            with Heartbeat(beat, self.settings.heartbeat_seconds, limit):
                prefix = task_prefix(task_id)
                self.storage.get_tree(f"{prefix}/raw", out_dir)
                self.storage.download(f"{prefix}/sample.bin", out_dir / "sample.bin")
                report = self.process(out_dir)
                self._store_parts(prefix, out_dir)
                for name in REPORTS:
                    if (out_dir / name).is_file():
                        self.storage.put_file(f"{prefix}/{name}", out_dir / name)
            verdict, score = _verdict(report)
            if verdict == "not executed":
                # The report is stored (static analysis, what little ran), but the analysis
                # proves nothing about the sample's behaviour: the task failed, saying why.
                analysis = report.get("analysis") or {}
                reason = str(analysis.get("not_executed_reason") or "no reason recorded")
                lifecycle.not_executed(self.db, task_id, self.name, reason)
                return False
            return lifecycle.reported(self.db, task_id, self.name, verdict, score)
        except WorkerStopped:
            # Not the task's fault: it goes back to the queue as it was.
            priority = lifecycle.release_postprocess(self.db, task_id, self.name)
            if priority is not None:
                try:
                    self.queues.postprocess.enqueue(task_id, priority)
                except QueueError as exc:
                    log.warning("task %s not queued again yet: %s", task_id, exc)
            raise
        except Overdue:
            lifecycle.postprocess_failed(
                self.db,
                task_id,
                self.name,
                f"postprocessing took longer than {self.settings.postprocess_timeout_seconds:g}"
                " s and was stopped",
            )
            return False
        except Exception as exc:
            log.exception("postprocessing of task %s failed", task_id)
            detail = str(exc).splitlines()[0][:REASON_DETAIL] if str(exc) else ""
            lifecycle.postprocess_failed(
                self.db,
                task_id,
                self.name,
                f"postprocessing failed: {type(exc).__name__}: {detail}",
            )
            return False
        finally:
            self.current = None
            shutil.rmtree(scratch, ignore_errors=True)
