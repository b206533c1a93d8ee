"""The evidence of a run through the service: memory dumps, screenshots and the console log
stored by the real sandbox worker, listed in the report by the real pipeline, downloadable
from the API (the dumps and screenshots as password-protected zips, as dropped files are)."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pyzipper  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService
from tests.unit.hooks.fake_qemu import FakeQemuContext, elf_core, load, ppm

from .conftest import Backend, submit
from .raw_artefacts import RunFiles, basic_run

SECRET = b"http://held-only-in-memory.example/c2"


@dataclass
class EvidenceRun(RunFiles):
    """The basic run, plus what the memory dump and screenshot hooks leave."""

    def write(self, out_dir: Path, sample_name: str, run_id: str) -> None:
        super().write(out_dir, sample_name, run_id)
        context = FakeQemuContext(out_dir.parent / "vm", memory=b"\0" * 4096 + SECRET + b"\0")
        context.screens.frames = [ppm(2, 2, bytes(12)), ppm(2, 2, bytes([200] * 12))]
        managers = [
            load(context, out_dir, "aasee.hooks.memory_dump.MemoryDumpHook"),
            load(context, out_dir, "aasee.hooks.screenshots.ScreenshotHook", interval=0),
        ]
        context.poweron()
        context.bus.join()
        context.poweroff()
        for manager in managers:
            manager.cleanup()


@pytest.fixture
def evidence_task(client: TestClient, auth: dict[str, str], backend: Backend) -> dict[str, Any]:
    answer = submit(client, auth, filename="dropper.sh", timeout="10")
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["id"]
    base = basic_run()
    backend.report(task_id, EvidenceRun(trace=base.trace, root_pid=base.root_pid))
    task: dict[str, Any] = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["status"] == "reported", task
    return task


def _unzip(data: bytes, password: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(password.encode())
        return {name: archive.read(name) for name in archive.namelist()}


def test_evidence_is_listed_and_downloadable(
    client: TestClient, auth: dict[str, str], evidence_task: dict[str, Any], service: TaskService
) -> None:
    task_id = evidence_task["id"]
    assert {"memory", "screenshots", "console"} <= set(evidence_task["artefacts"])
    report = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth).json()
    evidence = report["evidence"]
    listed = {a["path"] for a in evidence["artefacts"]}
    assert {"console.log", "memory/1-pre_poweroff.elf.gz", "screenshots/0002.png"} <= listed
    assert [u["value"] for u in evidence["memory_strings"]["urls"]] == [SECRET.decode()]

    memory = client.get(f"/api/v1/tasks/{task_id}/artefacts/memory", headers=auth)
    assert memory.status_code == 200
    assert memory.headers["content-type"] == "application/zip"
    assert memory.headers["content-disposition"].startswith('attachment; filename="')
    members = _unzip(memory.content, service.settings.zip_password)
    assert set(members) == {"1-pre_poweroff.elf.gz", "manifest.json"}
    core = gzip.decompress(members["1-pre_poweroff.elf.gz"])
    assert core == elf_core(b"\0" * 4096 + SECRET + b"\0")

    shots = client.get(f"/api/v1/tasks/{task_id}/artefacts/screenshots", headers=auth)
    assert shots.status_code == 200
    frames = _unzip(shots.content, service.settings.zip_password)
    assert {"0001.png", "0002.png", "manifest.json"} == set(frames)
    assert all(frames[name].startswith(b"\x89PNG") for name in ("0001.png", "0002.png"))

    console = client.get(f"/api/v1/tasks/{task_id}/artefacts/console", headers=auth)
    assert console.status_code == 200
    assert console.content.startswith(b"[    0.000000] Linux")
    assert console.headers["content-type"].startswith("text/plain")
    assert console.headers["content-disposition"].startswith("attachment")


def test_no_evidence_no_download(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    assert "memory" not in reported["artefacts"]
    answer = client.get(f"/api/v1/tasks/{reported['id']}/artefacts/memory", headers=auth)
    assert answer.status_code == 404
    assert "memory" in answer.json()["detail"]
