"""Worker processes killed or stopped mid-task, the supervisor, and `aasee serve` as a real
process tree: nothing is left stuck, children never outlive the service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aasee.service import lifecycle
from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.serve import PARENT_ENV, SETTINGS_ENV
from aasee.service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = b"#!/bin/sh\nsleep 100\n"


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env[SETTINGS_ENV] = settings.model_dump_json()
    env.pop(PARENT_ENV, None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _wait(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _running_pid(service: TaskService, task_id: str) -> int | None:
    view = service.get(task_id)
    if view is None or view.status != "running" or view.worker is None:
        return None
    return int(view.worker.split(":")[1])


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.service.blocking_worker"], env=_env(settings), cwd=ROOT
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_sigkilled_worker_is_detected_by_its_stale_heartbeat(
    service: TaskService, worker_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    task = service.submit(SAMPLE, "slow.sh", SubmitOptions(timeout=30))
    settings = service.settings
    worker = worker_process()
    _wait(lambda: _running_pid(service, task.id) == worker.pid, what="the worker to run it")
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    # Nobody told anyone: only the silence of the heartbeat shows the worker is gone.
    def reaped() -> bool:
        lifecycle.reap(service.db, service.queues, settings)
        view = service.get(task.id)
        return view is not None and view.status == "pending"

    _wait(reaped, timeout=settings.stale_after_seconds + 10, what="the reaper")
    view = service.get(task.id)
    assert view is not None and view.attempts == 1
    assert f":{worker.pid}:sandbox-1 stopped responding during running sample" in (
        view.reason or ""
    )
    # The retry runs on a new worker; killed again, the task fails with the reason.
    second = worker_process()
    _wait(lambda: _running_pid(service, task.id) == second.pid, what="the retry to run")
    second.send_signal(signal.SIGKILL)
    second.wait()

    def failed() -> bool:
        lifecycle.reap(service.db, service.queues, settings)
        view = service.get(task.id)
        return view is not None and view.status == "failed"

    _wait(failed, timeout=settings.stale_after_seconds + 10, what="the task to fail")
    view = service.get(task.id)
    assert view is not None and "(after 2 attempt(s))" in (view.reason or "")


def test_sigterm_cleans_up_and_requeues(
    service: TaskService, worker_process: Callable[[], subprocess.Popen[bytes]]
) -> None:
    task = service.submit(SAMPLE, "slow.sh", SubmitOptions(timeout=30))
    worker = worker_process()
    _wait(lambda: _running_pid(service, task.id) == worker.pid, what="the worker to run it")
    view = service.get(task.id)
    assert view is not None
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    view = service.get(task.id)
    assert view is not None and view.status == "pending"
    assert view.reason is not None and "was stopped during the analysis" in view.reason
    assert list(service.settings.home.glob("cleaned-*"))  # the "VM" was cleaned up
    assert (
        service.queues.analysis("debian-bookworm-amd64").depth() == 1
    )  # and the task is queued again
    health = service.health()
    assert health["workers"] == []  # the worker said goodbye


def _supervisor(settings: Settings, count: int) -> subprocess.Popen[bytes]:
    script = (
        "import sys\n"
        "from aasee.service.serve import ChildSpec, Supervisor\n"
        "from aasee.service.settings import Settings\n"
        "settings = Settings.model_validate_json(sys.argv[1])\n"
        "count = int(sys.argv[2])\n"
        "worker = [sys.executable, '-m', 'tests.service.blocking_worker']\n"
        "specs = [ChildSpec(f'sandbox-{i}', 'sandbox', [*worker, str(i)], index=i)\n"
        "         for i in range(1, count + 1)]\n"
        "sys.exit(Supervisor(settings, specs).run())\n"
    )
    env = _env(settings)
    env.pop(SETTINGS_ENV)
    return subprocess.Popen(
        [sys.executable, "-c", script, settings.model_dump_json(), str(count)], env=env, cwd=ROOT
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_supervisor_reaps_a_killed_child_at_once_and_restarts_it(service: TaskService) -> None:
    settings = service.settings.model_copy(update={"stale_after_seconds": 600})
    task = service.submit(SAMPLE, "slow.sh", SubmitOptions(timeout=30))
    supervisor = _supervisor(settings, 1)
    try:
        first = _wait(lambda: _running_pid(service, task.id), what="a child to run it")
        os.kill(first, signal.SIGKILL)
        # Long before the heartbeat could go stale, the supervisor saw its child die.
        second = _wait(
            lambda: (pid := _running_pid(service, task.id)) != first and pid,
            timeout=20,
            what="the restarted child to run the retry",
        )
        view = service.get(task.id)
        assert view is not None and view.attempts == 2
        assert view.reason is not None and "killed by SIGKILL" in view.reason
        os.kill(second, signal.SIGKILL)
        _wait(
            lambda: (v := service.get(task.id)) and v.status == "failed",
            timeout=20,
            what="the task to fail",
        )
        view = service.get(task.id)
        assert view is not None and "killed by SIGKILL (after 2 attempt(s))" in (view.reason or "")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
    assert service.queues.analysis("debian-bookworm-amd64").depth() == 0


def test_children_die_with_a_killed_supervisor(service: TaskService) -> None:
    supervisor = _supervisor(service.settings, 2)
    children = _wait(lambda: len(c := _children(supervisor.pid)) == 2 and c, what="children")
    _wait(lambda: service.health()["workers_alive"]["sandbox"] == 2, what="workers alive")
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    _wait(lambda: not any(_alive(pid) for pid in children), timeout=20, what="children to exit")


def test_serve_runs_web_and_workers_and_stops_cleanly(tmp_path: Path) -> None:
    from .conftest import make_settings

    settings = make_settings(tmp_path)
    env = dict(os.environ)
    env.update(AASEE_HOME=str(settings.home), AASEE_CONFIG=str(tmp_path / "none.toml"))
    serve = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import click, sys\n"
            "from aasee.cli.service_commands import register\n"
            "group = click.Group('aasee')\nregister(group)\ngroup(sys.argv[1:])\n",
            "serve",
            "--workers",
            "2",
            "--port",
            "0",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        banner = serve.stdout.readline() + serve.stdout.readline() + serve.stdout.readline()
        assert "AASEE service on http://127.0.0.1:" in banner
        assert "first API token (shown once): aasee_" in banner
        url = banner.split("on ", 1)[1].split()[0]
        _wait(lambda: _responds(url), what="the web server")
        children = _children(serve.pid)
        assert len(children) == 4  # web, 2 sandbox workers, postprocess
        service = TaskService(settings)
        _wait(
            lambda: service.health()["workers_alive"] == {"sandbox": 2, "postprocess": 1},
            what="workers to report",
        )
        service.close()
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0
    assert not any(_alive(pid) for pid in children)


def _responds(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True
