"""Fixtures for the API and UI tests: the real app on a real SQLite database, queue and
storage folder in a temporary home, tokens, a logged-in UI client, reported tasks."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService
from aasee.service.postprocess import PostprocessWorker
from aasee.service.settings import Settings
from aasee.service.worker import SandboxWorker
from aasee.web.app import create_app

from .raw_artefacts import RunFiles, basic_run, prepared_acquire

IMAGE = "debian-bookworm-amd64"
UPLOAD_LIMIT = 64 << 10
SAMPLE = b"#!/bin/sh\necho hello\n"


def register_image(home: Path, name: str = IMAGE) -> None:
    """The metadata of a built guest image, so submissions for it are accepted (no VM runs)."""
    images = home / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / f"{name}.json").write_text(
        json.dumps(
            {
                "name": name,
                "arch": "x86_64",
                "os": "debian-12",
                "kernel_release": "6.1.0-test",
                "cmdline": "console=ttyS0",
                "disk": str(images / f"{name}.qcow2"),
                "kernel": str(images / f"{name}.vmlinuz"),
                "initrd": str(images / f"{name}.initrd"),
                "agent_version": "0.2.0",
                "inputs_key": "test",
                "built_at": "2024-05-01T00:00:00Z",
            }
        )
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    register_image(home)
    return Settings.model_validate(
        {"home": home, "max_upload_bytes": UPLOAD_LIMIT, "max_timeout": 300}
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def service(app: FastAPI) -> TaskService:
    service: TaskService = app.state.web.service
    return service


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def token(service: TaskService) -> str:
    return service.create_token("tester")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(
    client: TestClient,
    auth: dict[str, str],
    data: bytes = SAMPLE,
    filename: str = "sample.sh",
    **fields: Any,
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/api/v1/tasks", headers=auth, files={"file": (filename, data)}, data=fields
    )
    return response


def login(client: TestClient, token: str) -> str:
    """Log the client in through the login form; returns the session's CSRF value."""
    page = client.get("/login")
    assert page.status_code == 200
    csrf = hidden(page.text, "csrf")
    answer = client.post(
        "/login", data={"token": token, "csrf": csrf, "next": "/analyses"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    listing = client.get("/analyses")
    assert listing.status_code == 200
    return hidden(listing.text, "csrf")


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name!r} in the page"
    return found.group(1)


@dataclass
class Backend:
    """The backend's own workers, driven one task at a time (no VM: prepared artefacts)."""

    settings: Settings

    def analyse(self, task_id: str, run: RunFiles | None = None) -> None:
        worker = SandboxWorker(
            self.settings, name="test-sandbox", acquire=prepared_acquire(run or basic_run())
        )
        try:
            worker.run_one(task_id)
        finally:
            worker.db.dispose()

    def postprocess(self, task_id: str) -> bool:
        worker = PostprocessWorker(self.settings, name="test-postprocess")
        try:
            return worker.run_one(task_id)
        finally:
            worker.db.dispose()

    def report(self, task_id: str, run: RunFiles | None = None) -> None:
        self.analyse(task_id, run)
        assert self.postprocess(task_id), f"task {task_id} was not reported"


@pytest.fixture
def backend(settings: Settings, app: FastAPI) -> Backend:
    return Backend(settings)


@pytest.fixture
def reported(client: TestClient, auth: dict[str, str], backend: Backend) -> dict[str, Any]:
    """A task taken through the real workers and pipeline to 'reported'."""
    answer = submit(client, auth, filename="dropper.sh", timeout="10")
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["id"]
    backend.report(task_id)
    task: dict[str, Any] = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["status"] == "reported", task
    return task


@dataclass
class LiveServer:
    url: str
    host: str
    port: int


@contextmanager
def running(app: FastAPI, receive_buffer: int | None = None) -> Iterator[LiveServer]:
    """``app`` under a real uvicorn on a free loopback port, in a thread, while in the block.
    ``receive_buffer`` fixes the kernel's receive buffer of the connections it accepts (instead
    of the host's own, autotuned, sizes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if receive_buffer is not None:  # inherited by accepted sockets; set before listen()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with running(app) as server:
        yield server
