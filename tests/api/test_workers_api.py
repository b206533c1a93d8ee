"""The worker fleet through the API (``GET /api/v1/workers``) and the Workers page, over the
real app and database; workers are the real worker classes heartbeating (no VM runs)."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from aasee.service import lifecycle
from aasee.service.facade import TaskService
from aasee.service.postprocess import PostprocessWorker
from aasee.service.settings import Settings
from aasee.service.worker import SandboxWorker

from .conftest import login, submit

FIELDS = {
    "name",
    "kind",
    "host",
    "pid",
    "task_id",
    "task_number",
    "images",
    "arches",
    "sandboxes",
    "unavailable",
    "free_slots",
    "vm_limit",
    "warm_vms",
    "cpus",
    "load",
    "memory_total_mib",
    "memory_available_mib",
    "version",
    "started",
    "seen",
    "seconds_since_seen",
    "alive",
}


def test_workers_are_listed_with_what_they_can_run(
    client: TestClient, auth: dict[str, str], settings: Settings, service: TaskService
) -> None:
    assert client.get("/api/v1/workers").status_code == 401
    assert client.get("/api/v1/workers", headers=auth).json() == []
    sandbox = SandboxWorker(settings, name="vmhost:41:sandbox-1")
    sandbox.beat()
    PostprocessWorker(settings, name="pphost:42:postprocess-1").beat()
    task_id = submit(client, auth).json()["id"]
    lifecycle.beat_worker(
        service.db, "gone:43:sandbox-1", "sandbox", "gone", 43, task_id, ["x:x86_64"]
    )
    answer = client.get("/api/v1/workers", headers=auth)
    assert answer.status_code == 200
    workers = {worker["name"]: worker for worker in answer.json()}
    assert set(workers) == {"vmhost:41:sandbox-1", "pphost:42:postprocess-1", "gone:43:sandbox-1"}
    for worker in workers.values():
        assert set(worker) == FIELDS
    vm = workers["vmhost:41:sandbox-1"]
    assert vm["kind"] == "sandbox" and vm["alive"] is True and vm["task_id"] is None
    assert vm["images"] == ["debian-bookworm-amd64:x86_64"] and vm["arches"] == ["x86_64"]
    assert "qemu" in vm["sandboxes"] and isinstance(vm["free_slots"], int)
    assert len(vm["load"]) == 3 and vm["memory_available_mib"] > 0
    busy = workers["gone:43:sandbox-1"]
    assert busy["task_id"] == task_id and busy["task_number"] >= 1
    assert busy["sandboxes"] == ["qemu"] and busy["version"] is None  # an older worker
    # The API documents it.
    paths = client.get("/api/openapi.json", headers=auth).json()["paths"]
    assert "/api/v1/workers" in paths


def test_a_worker_gone_silent_is_stale(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    lifecycle.beat_worker(service.db, "h:1:sandbox-1", "sandbox", "h", 1, None, [])
    (worker,) = client.get("/api/v1/workers", headers=auth).json()
    assert worker["alive"] is True
    original = service.settings
    service.settings = original.model_copy(update={"stale_after_seconds": 0.2})
    try:
        time.sleep(0.5)  # no heartbeat since: as after a SIGKILL
        (worker,) = client.get("/api/v1/workers", headers=auth).json()
        assert worker["alive"] is False and worker["seconds_since_seen"] >= 0.2
    finally:
        service.settings = original


def test_workers_page(
    client: TestClient, token: str, settings: Settings, service: TaskService
) -> None:
    assert client.get("/workers", follow_redirects=False).status_code in (303, 307)
    login(client, token)
    empty = client.get("/workers")
    assert empty.status_code == 200 and "No worker has reported yet" in empty.text
    SandboxWorker(settings, name="vmhost:41:sandbox-1").beat()
    hostile = "<img src=x onerror=alert(1)>"
    lifecycle.beat_worker(
        service.db, f"{hostile}:7:sandbox-1", "sandbox", hostile, 7, None, [f"{hostile}:x86_64"]
    )
    page = client.get("/workers")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/workers">Workers</a>' in html  # in the navigation of every page
    assert '<a href="/workers">Workers</a>' in client.get("/analyses").text
    assert 'data-worker="vmhost:41:sandbox-1"' in html
    assert "debian-bookworm-amd64:x86_64" in html and "alive" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<script src="/static/workers.js"></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script (CSP)
    assert client.get("/static/workers.js").status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
