"""Sandbox and postprocess workers in this process, on a real database (SQLite and
PostgreSQL), storage and queue; what they report of themselves (``fleet``) and how that routes
tasks to them.

The acquisition (the VM run) is the one part replaced here: these tests cover what the worker
does around it; tests/e2e/test_service_vm.py runs the same workers with real VMs. The
postprocess worker runs the real processing pipeline.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aasee.contexts.sandboxes import DEFAULT_SANDBOX
from aasee.service import fleet, lifecycle
from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.models import utcnow
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


# --- the fleet: what workers report, and tasks only for workers that can run them ------------


def _sandbox_worker(settings: Settings, name: str, sandboxes: list[str]) -> SandboxWorker:
    """A worker of this host that takes tasks for ``sandboxes`` only (as on a host without
    libvirt's LXC driver or bpftrace, where ``fleet.host_sandboxes`` leaves lxc out)."""
    worker = SandboxWorker(settings, name=name, acquire=acquire_ok)
    worker.sandboxes = sandboxes
    return worker


def test_a_worker_reports_what_it_can_run_with_its_heartbeat(
    service: TaskService, settings: Settings
) -> None:
    worker = _worker(settings)
    worker.beat()
    post = PostprocessWorker(settings, name="test:2:postprocess-1")
    post.beat()
    views = {view.name: view for view in service.workers()}
    sandbox = views["test:1:sandbox-1"]
    assert sandbox.kind == "sandbox" and sandbox.alive and sandbox.task_id is None
    assert sandbox.images == ["debian-bookworm-amd64:x86_64"] and sandbox.arches == ["x86_64"]
    assert fleet.DEFAULT_KIND == DEFAULT_SANDBOX and DEFAULT_SANDBOX in sandbox.sandboxes
    # What the host can run decides lxc; why it cannot is said.
    usable, refused = fleet.host_sandboxes()
    assert sandbox.sandboxes == [kind for kind in usable if kind in settings.sandboxes]
    assert sandbox.unavailable == dict(refused)
    assert isinstance(sandbox.free_slots, int) and sandbox.free_slots >= 0
    assert isinstance(sandbox.vm_limit, int) and sandbox.vm_limit >= 1
    assert sandbox.warm_vms == 0  # no warm pool outside run_forever
    assert sandbox.cpus == os.cpu_count() and len(sandbox.load) == 3
    assert sandbox.memory_available_mib is not None and sandbox.memory_total_mib is not None
    assert 0 < sandbox.memory_available_mib <= sandbox.memory_total_mib
    postprocess = views["test:2:postprocess-1"]
    assert postprocess.kind == "postprocess" and postprocess.sandboxes == []
    assert postprocess.free_slots is None and postprocess.cpus == os.cpu_count()


def test_the_workers_current_task_is_shown_while_it_runs(
    service: TaskService, settings: Settings
) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    seen: list[tuple[str | None, int | None]] = []

    def acquire(*args: Any) -> None:
        (view,) = [v for v in service.workers() if v.name == "test:1:sandbox-1"]
        seen.append((view.task_id, view.task_number))
        acquire_ok(*args)

    _worker(settings, acquire).run_one(task.id)
    assert seen == [(task.id, task.number)]
    (after,) = service.workers()
    assert after.task_id is None


def test_a_container_task_is_taken_only_by_a_worker_that_runs_containers(
    service: TaskService, settings: Settings
) -> None:
    vm_only = _sandbox_worker(settings, "a:1:sandbox-1", ["qemu"])
    both = _sandbox_worker(settings, "b:2:sandbox-1", ["lxc", "qemu"])
    vm_only.beat()
    both.beat()
    lxc_task = service.submit(SAMPLE, "hello.sh", SubmitOptions(sandbox="lxc"))
    assert lxc_task.status == "pending"
    assert vm_only._dequeue(wait=0.3) is None  # never even sees it
    assert both._dequeue(wait=1) == lxc_task.id
    vm_task = service.submit(b"#!/bin/sh\necho vm\n", "vm.sh", SubmitOptions())
    assert vm_only._dequeue(wait=1) == vm_task.id
    assert both.routes() == [("debian-bookworm-amd64", "lxc"), ("debian-bookworm-amd64", "qemu")]


def test_a_retried_container_task_goes_back_to_the_container_queue(
    service: TaskService, settings: Settings
) -> None:
    def acquire(*_args: Any) -> None:
        raise RuntimeError("libvirt_lxc exited")

    worker = _sandbox_worker(settings, "b:2:sandbox-1", ["lxc", "qemu"])
    worker.acquire = acquire
    worker.beat()
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions(sandbox="lxc"))
    assert worker._dequeue(wait=1) == task.id
    worker.run_one(task.id)
    assert _view(service, task.id).status == "pending"
    assert service.queues.analysis("debian-bookworm-amd64").depth() == 0
    assert service.queues.analysis("debian-bookworm-amd64", "lxc").dequeue(wait=1) == task.id


def test_the_reaper_resends_a_lost_container_task_to_its_own_queue(
    service: TaskService, settings: Settings
) -> None:
    _sandbox_worker(settings, "b:2:sandbox-1", ["lxc", "qemu"]).beat()
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions(sandbox="lxc"))
    queue = service.queues.analysis("debian-bookworm-amd64", "lxc")
    queue.huey.flush()  # lost (a Redis restart without persistence)
    later = utcnow() + timedelta(seconds=settings.stale_after_seconds + 1)
    assert lifecycle.reap(service.db, service.queues, settings, later).resent == [task.id]
    assert queue.dequeue(wait=1) == task.id
    # A worker that died holding it: retried on the same queue.
    claim = lifecycle.claim_for_analysis(service.db, task.id, "b:2:sandbox-1")
    assert claim is not None
    lifecycle.reap_worker(service.db, service.queues, "b:2:sandbox-1", "gone", settings)
    assert service.queues.analysis("debian-bookworm-amd64").depth() == 0
    assert queue.dequeue(wait=1) == task.id


def test_a_kind_no_live_worker_offers_is_refused_at_submission(
    service: TaskService, settings: Settings
) -> None:
    # No live worker: nothing is known, the task waits for one.
    waiting = service.submit(SAMPLE, "a.sh", SubmitOptions(sandbox="lxc"))
    assert waiting.status == "pending"
    _sandbox_worker(settings, "a:1:sandbox-1", ["qemu"]).beat()
    refused = service.submit(b"#!/bin/sh\necho b\n", "b.sh", SubmitOptions(sandbox="lxc"))
    assert refused.status == "failed" and refused.reason is not None
    assert "no live sandbox worker can run sandbox 'lxc' (the workers offer: qemu)" in (
        refused.reason
    )
    assert "libvirt-daemon-driver-lxc" in refused.reason
    assert service.queues.analysis("debian-bookworm-amd64", "lxc").depth() == 1  # the first
    # A worker of an older version (no capabilities) runs VMs only.
    lifecycle.beat_worker(service.db, "old:3:sandbox-1", "sandbox", "old", 3, None, [])
    (old,) = [view for view in service.workers() if view.name == "old:3:sandbox-1"]
    assert old.sandboxes == ["qemu"] and old.cpus is None and old.version is None


def test_a_silent_worker_is_listed_stale_and_its_task_retried(
    service: TaskService, settings: Settings
) -> None:
    task = service.submit(SAMPLE, "hello.sh", SubmitOptions())
    worker = _worker(settings)
    claim = lifecycle.claim_for_analysis(service.db, task.id, worker.name)
    assert claim is not None
    worker.current = task.id
    worker.beat()
    (view,) = service.workers()
    assert view.alive and view.task_id == task.id
    time.sleep(settings.stale_after_seconds + 0.5)  # the worker was SIGKILLed: no more beats
    (view,) = service.workers()
    assert not view.alive and view.seconds_since_seen > settings.stale_after_seconds
    result = lifecycle.reap(service.db, service.queues, settings)
    assert result.retried == [task.id]
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == task.id
    other = SandboxWorker(settings, name="other:9:sandbox-1", acquire=acquire_ok)
    other.run_one(task.id)
    after = _view(service, task.id)
    assert after.status == "postprocessing" and after.attempts == 2
