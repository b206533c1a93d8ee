"""Sandbox and postprocess workers in this process, on a real database (SQLite and
PostgreSQL), storage and queue.

The acquisition (the VM run) is the one part replaced here: these tests cover what the worker
does around it; tests/e2e/test_service_vm.py runs the same workers with real VMs. The
postprocess worker runs the real processing pipeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.postprocess import PostprocessWorker
from aasee.service.settings import Settings
from aasee.service.worker import NotRetryable, Progress, SandboxWorker

from .conftest import BACKENDS, backend_database_url, write_raw_results

SAMPLE = b"#!/bin/sh\necho hello\n"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Overrides conftest's: each test here that uses the database runs on SQLite and on
    PostgreSQL (its id names the backend)."""
    return backend_database_url(request, request.param)


def acquire_ok(
    settings: Settings,
    sample: Path,
    out_dir: Path,
    options: dict[str, Any],
    progress: Progress,
    run_id: str,
) -> None:
    assert sample.read_bytes() == SAMPLE and sample.name == "hello.sh"
    progress("booting guest", None)
    progress("running sample", 0.5)
    write_raw_results(out_dir, sample.read_bytes(), sample.name)


def _worker(settings: Settings, acquire: Any = acquire_ok) -> SandboxWorker:
    return SandboxWorker(settings, name="test:1:sandbox-1", acquire=acquire)


def _view(service: TaskService, task_id: str) -> Any:
    view = service.get(task_id)
    assert view is not None
    return view


def test_analysis_then_postprocessing_to_reported(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    worker = _worker(settings)
    worker.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "postprocessing" and view.substatus == "queued for postprocessing"
    stored = service.storage.keys(f"tasks/{task.id}/raw")
    names = {key.rsplit("/", 1)[1] for key in stored}
    assert {"trace.log", "run.json", "stdout.txt", "dropped.tar"} <= names
    assert not names & {"sample.bin", ".hidden", "link", "report.json"}
    assert not list(settings.scratch_dir.iterdir())  # scratch cleaned
    assert service.queues.postprocess.dequeue(wait=1) == task.id

    post = PostprocessWorker(settings, name="test:2:postprocess-1")
    assert post.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "reported" and view.finished is not None
    report = json.loads(service.report(task.id, "json") or b"{}")
    assert report["sample"]["sha256"] == task.sha256
    assert view.verdict == report.get("verdict") and view.score == report.get("score")
    assert (service.report(task.id, "html") or b"").lstrip().lower().startswith(b"<!doctype")
    assert not any(settings.scratch_dir.iterdir())

    again = service.reprocess(task.id)
    assert again.status == "postprocessing"
    assert service.queues.postprocess.dequeue(wait=1) == task.id
    assert post.run_one(task.id)
    assert _view(service, task.id).status == "reported"


def test_progress_and_substatus_are_visible_while_running(
    service: TaskService, settings: Settings
) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    seen: list[tuple[str, str | None, float | None]] = []

    def acquire(*args: Any) -> None:
        progress: Progress = args[4]
        progress("running sample", 0.25)
        view = _view(service, task.id)
        seen.append((view.status, view.substatus, view.progress))
        acquire_ok(*args)

    _worker(settings, acquire).run_one(task.id)
    assert seen == [("running", "running sample", 0.25)]


def test_a_bad_sample_fails_at_once(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())

    def acquire(*_args: Any) -> None:
        raise NotRetryable("sample is not executable by this guest")

    _worker(settings, acquire).run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "failed" and view.reason == "sample is not executable by this guest"
    assert view.attempts == 1


def test_sandbox_failures_are_retried_then_fail(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())

    def acquire(*_args: Any) -> None:
        raise RuntimeError("QEMU exited with status 1")

    worker = _worker(settings, acquire)
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == task.id
    worker.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "pending" and "QEMU exited" in (view.reason or "")
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == task.id  # re-queued
    worker.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "failed" and view.attempts == 2
    assert view.reason == "sandbox failure: QEMU exited with status 1 (after 2 attempt(s))"


def test_deleted_task_stops_the_run(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    reached: list[str] = []

    def acquire(*args: Any) -> None:
        progress: Progress = args[4]
        progress("booting guest", None)
        service.delete(task.id)
        try:
            progress("running sample", 0.1)
        finally:
            reached.append("cleanup")  # where run_analysis powers the VM off
        reached.append("continued")

    _worker(settings, acquire).run_one(task.id)
    assert reached == ["cleanup"]
    assert service.storage.keys(f"tasks/{task.id}") == []


def test_worker_without_the_image_fails_the_task(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    worker = _worker(settings)
    worker.images = ["other-image:aarch64"]
    worker.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "failed"
    assert "has no guest image 'debian-bookworm-amd64'" in (view.reason or "")


def test_broken_artefacts_fail_postprocessing_with_the_reason(
    service: TaskService, settings: Settings
) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())

    def acquire(*args: Any) -> None:
        acquire_ok(*args)
        (args[2] / "run.json").write_text("{not json")

    _worker(settings, acquire).run_one(task.id)
    post = PostprocessWorker(settings, name="test:2:postprocess-1")
    assert not post.run_one(task.id)
    view = _view(service, task.id)
    assert view.status == "failed"
    assert (view.reason or "").startswith("postprocessing failed: RunMetaError")


def test_a_task_id_seen_twice_is_analysed_once(service: TaskService, settings: Settings) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    calls: list[str] = []

    def acquire(*args: Any) -> None:
        calls.append(args[5])
        acquire_ok(*args)

    worker = _worker(settings, acquire)
    worker.run_one(task.id)
    worker.run_one(task.id)
    assert len(calls) == 1


@pytest.mark.parametrize("missing", ["sample"])
def test_postprocess_skips_tasks_not_waiting(
    service: TaskService, settings: Settings, missing: str
) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    post = PostprocessWorker(settings, name="test:2:postprocess-1")
    assert not post.run_one(task.id)
    assert _view(service, task.id).status == "pending"


def test_a_hung_run_is_stopped_at_its_limit_and_retried(tmp_path: Path) -> None:
    from .conftest import make_settings

    settings = make_settings(tmp_path, run_grace_seconds=1)
    service = TaskService(settings)
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions(timeout=1))
    cleaned: list[bool] = []
    rounds: list[int] = []

    def acquire(*args: Any) -> None:
        progress: Progress = args[4]
        try:
            for _ in range(200):  # 20 s: far past timeout + grace
                progress("running sample", 0.5)
                time.sleep(0.1)
                rounds.append(1)
        finally:
            cleaned.append(True)

    _worker(settings, acquire).run_one(task.id)
    assert len(rounds) < 200, "the hung run was waited for, not stopped at its limit"
    assert cleaned == [True]
    view = _view(service, task.id)
    assert view.status == "pending"
    assert "took longer than its limit of 2 s (the sample's timeout plus 1 s" in (view.reason or "")
    service.close()


def test_a_hung_postprocessing_fails_with_the_reason(tmp_path: Path) -> None:
    from .conftest import make_settings

    settings = make_settings(tmp_path, postprocess_timeout_seconds=0.5)
    service = TaskService(settings)
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    _worker(settings).run_one(task.id)

    finished: list[bool] = []

    def process(_out_dir: Path) -> dict[str, Any]:
        time.sleep(20)
        finished.append(True)
        return {}

    post = PostprocessWorker(settings, name="test:2:postprocess-1", process=process)
    assert not post.run_one(task.id)
    assert finished == [], "the hung postprocessing was waited for, not stopped at its limit"
    view = _view(service, task.id)
    assert view.status == "failed"
    assert view.reason == "postprocessing took longer than 0.5 s and was stopped"
    service.close()
