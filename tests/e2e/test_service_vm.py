"""`aasee serve --workers 2` as a real process tree with real VMs: 10 submissions end as 10
reports, and a sandbox worker SIGKILLed mid-analysis leaves neither a stuck task nor its VM,
QEMU process, run directory or network namespace behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.contexts.network import list_sandbox_namespaces
from aasee.contexts.qemu_process import list_qemu_sandboxes
from aasee.images.store import GuestImage, aasee_home
from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.settings import Settings, load_settings

pytestmark = pytest.mark.vm
# The queue the samples of these tests (scripts) are routed to.
DEFAULT_IMAGE = get_profile(DEFAULT_ARCH).default_image
ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = 10
SERVE = (
    "import click, sys\n"
    "from aasee.cli.service_commands import register\n"
    "group = click.Group('aasee')\n"
    "register(group)\n"
    "group(sys.argv[1:])\n"
)


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _qemu_pids(run_id: str) -> list[int]:
    """QEMU processes whose -name is this run's VM."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu" in argv[0] and f"aasee-{run_id}".encode() in argv:
            pids.append(int(entry.name))
    return pids


def _vms_of(pid: int) -> list[str]:
    """The run directories (VM identifiers) owned by process ``pid``."""
    runs = aasee_home() / "runs"
    names = []
    for run in runs.iterdir() if runs.is_dir() else []:
        try:
            if int(json.loads((run / "owner.json").read_text())["pid"]) == pid:
                names.append(run.name)
        except (OSError, ValueError, KeyError):
            continue
    return names


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    """Temporary database, queue, storage and scratch; the host's images and snapshots."""
    config = tmp_path / "aasee.toml"
    config.write_text(
        f'home = "{aasee_home()}"\n'
        f'database_url = "sqlite:///{tmp_path}/aasee.db"\n'
        f'queue_url = "sqlite:///{tmp_path}/queue.db"\n'
        f'storage_url = "file://{tmp_path}/storage"\n'
        f'scratch_dir = "{tmp_path}/scratch"\n'
        "heartbeat_seconds = 2\n"
        "stale_after_seconds = 30\n"
        "task_retries = 1\n"
    )
    return load_settings(config)


@pytest.fixture
def serve(tmp_path: Path, service_settings: Settings) -> Iterator[subprocess.Popen[str]]:
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE,
            "serve",
            "--workers",
            "2",
            "--port",
            "0",
            "--config",
            str(tmp_path / "aasee.toml"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        # Shown by pytest when the test fails: what the service's processes said.
        print((tmp_path / "serve.log").read_text()[-20000:])


def test_serve_processes_ten_submissions_and_survives_a_killed_worker(
    guest_image: GuestImage,
    ready_snapshot: object,
    serve: subprocess.Popen[str],
    service_settings: Settings,
    tmp_path: Path,
) -> None:
    namespaces_before = set(list_sandbox_namespaces())
    vms_before = set(list_qemu_sandboxes())
    assert serve.stdout is not None
    banner = serve.stdout.readline()
    assert "AASEE service on http://127.0.0.1:" in banner, (tmp_path / "serve.log").read_text()
    service = TaskService(service_settings)
    try:
        _wait(
            lambda: service.health()["workers_alive"] == {"sandbox": 2, "postprocess": 1},
            60,
            "two sandbox workers and the postprocess worker",
        )
        ids = [
            service.submit(
                f"#!/bin/sh\necho submission {i}\nsleep 1\n".encode(),
                f"sample-{i}.sh",
                SubmitOptions(timeout=5),
            ).id
            for i in range(SUBMISSIONS)
        ]
        assert len(set(ids)) == SUBMISSIONS

        # Kill the worker of the first task seen running, mid-analysis.
        def running() -> Any:
            for task_id in ids:
                view = service.get(task_id)
                if view and view.status == "running" and view.substatus == "running sample":
                    return view
            return None

        victim = _wait(running, 300, "a task to be running in a VM")
        worker_pid = int(victim.worker.split(":")[1])
        # The worker's VMs: the one running the task, and the warm one it may keep for the
        # next (a warm VM has a name of its own, not the task's run id).
        vms = _vms_of(worker_pid)
        assert vms and any(_qemu_pids(vm) for vm in vms), "the running task has no QEMU process"
        os.kill(worker_pid, signal.SIGKILL)

        for vm in vms:
            _wait(lambda vm=vm: not _qemu_pids(vm), 30, "the killed worker's QEMU to exit")
            _wait(
                lambda vm=vm: f"aasee-{vm}" not in list_sandbox_namespaces(),
                30,
                "the killed worker's network namespace to be removed",
            )
            _wait(
                lambda vm=vm: not (aasee_home() / "runs" / vm).exists(),
                30,
                "the killed worker's run directory to be removed",
            )
        after_kill = service.get(victim.id)
        assert after_kill is not None and after_kill.reason is not None
        assert "killed by SIGKILL" in after_kill.reason

        def all_finished() -> bool:
            views = [service.get(task_id) for task_id in ids]
            return all(v is not None and v.status in ("reported", "failed") for v in views)

        _wait(all_finished, 1200, "every task to finish")
        views = [service.get(task_id) for task_id in ids]
        failures = {v.id: v.reason for v in views if v is not None and v.status != "reported"}
        assert not failures, failures
        for task_id in ids:
            report = service.report(task_id, "json")
            assert report is not None and b'"schema_version"' in report
            assert service.report(task_id, "html") is not None
        killed = service.get(victim.id)
        assert killed is not None and killed.attempts == 2  # the retry produced its report
        stuck = [
            v.id for v in service.list(limit=200).items if v.status not in ("reported", "failed")
        ]
        assert not stuck
        assert service.queues.analysis(DEFAULT_IMAGE).depth() == 0
        assert service.queues.postprocess.depth() == 0
        print("metrics:", service.metrics())
    finally:
        service.close()
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(120) == 0
    assert set(list_sandbox_namespaces()) <= namespaces_before
    assert set(list_qemu_sandboxes()) <= vms_before
