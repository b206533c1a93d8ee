"""Reports and artefact downloads of tasks taken to 'reported' by the real workers."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import pyzipper  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService

from .conftest import SAMPLE, Backend
from .raw_artefacts import PCAP_MAGIC


def test_report_json(client: TestClient, auth: dict[str, str], reported: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/tasks/{reported['id']}/report", headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    report = answer.json()
    assert report["sample"]["sha256"] == reported["sha256"]
    assert report["processes"][0]["pid"] == 117
    assert report["verdict"] == reported["verdict"]
    assert report["score"] == reported["score"]


def test_report_html_is_sandboxed(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    answer = client.get(f"/api/v1/tasks/{reported['id']}/report.html", headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-disposition"] == "inline"
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "sandbox" in csp.split("; ")
    assert "script-src" not in csp
    assert answer.text.lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("pcap", PCAP_MAGIC),
        ("trace", b"  "),
        ("console", b"[    0.000000] Linux"),
        ("stdout", b"hello from the sample"),
        ("stderr", b""),
        ("log", b"INFO prepared"),
        ("fakenet", b""),
        ("run", b"{"),
    ],
)
def test_raw_artefacts(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any], name: str, start: bytes
) -> None:
    answer = client.get(f"/api/v1/tasks/{reported['id']}/artefacts/{name}", headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(start)
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "text/html" not in answer.headers["content-type"]


def _unzip(data: bytes, password: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        with pytest.raises(RuntimeError):
            archive.read(archive.namelist()[0])  # no password, no content
        archive.setpassword(password.encode())
        return {name: archive.read(name) for name in archive.namelist()}


def test_dropped_files_zip_needs_the_password(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any], service: TaskService
) -> None:
    answer = client.get(f"/api/v1/tasks/{reported['id']}/artefacts/dropped", headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    members = _unzip(answer.content, service.settings.zip_password)
    assert b"#!/bin/sh\necho payload\n" in members.values()
    assert any(name.endswith("manifest.json") for name in members)


def test_sample_zip_needs_the_password(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any], service: TaskService
) -> None:
    answer = client.get(f"/api/v1/tasks/{reported['id']}/artefacts/sample", headers=auth)
    members = _unzip(answer.content, service.settings.zip_password)
    assert list(members.values()) == [SAMPLE]


def test_reported_task_is_reused(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    again = client.post(
        "/api/v1/tasks",
        headers=auth,
        files={"file": ("again.sh", SAMPLE)},
        data={"timeout": "10"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == reported["id"] and again.json()["reused"] is True
    assert again.json()["status"] == "reported"


def test_reprocess_builds_the_report_again(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any], backend: Backend
) -> None:
    task_id = reported["id"]
    answer = client.post(f"/api/v1/tasks/{task_id}/reprocess", headers=auth)
    assert answer.status_code == 202
    assert answer.json()["status"] == "postprocessing"
    assert client.get(f"/api/v1/tasks/{task_id}/report", headers=auth).status_code in (200, 409)
    assert backend.postprocess(task_id)
    task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["status"] == "reported"
    report = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth).json()
    assert report["sample"]["sha256"] == reported["sha256"]


def test_list_shows_verdicts_of_reported_tasks(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    page = client.get(f"/api/v1/tasks?status=reported&verdict={reported['verdict']}", headers=auth)
    assert [t["id"] for t in page.json()["items"]] == [reported["id"]]
    assert json.loads(page.text)["items"][0]["score"] == reported["score"]
