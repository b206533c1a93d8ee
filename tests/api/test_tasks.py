"""Listing, filtering, searching, status, deletion and re-processing through the API."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService
from aasee.service.models import Task

from .conftest import Backend, submit


def _many(client: TestClient, auth: dict[str, str], count: int, prefix: str = "s") -> list[str]:
    ids = []
    for index in range(count):
        answer = submit(
            client, auth, data=f"sample {prefix}{index}".encode(), filename=f"{prefix}{index}.sh"
        )
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
    return ids


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_list_pages_newest_first(client: TestClient, auth: dict[str, str]) -> None:
    ids = _many(client, auth, 7)
    first = client.get("/api/v1/tasks?limit=3", headers=auth).json()
    assert first["total"] == 7 and first["limit"] == 3 and first["offset"] == 0
    assert _ids(first) == ids[::-1][:3]
    second = client.get("/api/v1/tasks?limit=3&offset=3", headers=auth).json()
    assert _ids(second) == ids[::-1][3:6]
    last = client.get("/api/v1/tasks?limit=3&offset=6", headers=auth).json()
    assert _ids(last) == ids[:1]
    beyond = client.get("/api/v1/tasks?offset=100", headers=auth).json()
    assert beyond["items"] == [] and beyond["total"] == 7


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=201", "less than or equal to 200"),
        ("limit=0", "greater than or equal to 1"),
        ("limit=-5", "limit"),
        ("offset=-1", "offset"),
        ("limit=lots", "limit"),
        ("status=exploded", "status"),
        ("verdict=evil", "verdict"),
        ("sha256=abc", "sha256"),
        ("since=yesterday", "since"),
        ("since=2024-05-02&until=2024-05-01", "after"),
        ("name=" + "n" * 300, "name"),
    ],
)
def test_bad_list_parameters_are_422(
    client: TestClient, auth: dict[str, str], query: str, words: str
) -> None:
    answer = client.get(f"/api/v1/tasks?{query}", headers=auth)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]


def test_limit_of_200_is_the_most(client: TestClient, auth: dict[str, str]) -> None:
    _many(client, auth, 3)
    page = client.get("/api/v1/tasks?limit=200", headers=auth).json()
    assert page["limit"] == 200 and len(page["items"]) == 3


def _set(service: TaskService, task_id: str, **values: Any) -> None:
    # Test set-up of states no worker reaches quickly (old submissions, verdicts), written
    # straight into the real database the service reads.
    with service.db.write() as session:
        task = session.get(Task, task_id)
        assert task is not None
        for key, value in values.items():
            setattr(task, key, value)


def test_filters(client: TestClient, auth: dict[str, str], service: TaskService) -> None:
    a, b, c = _many(client, auth, 3, prefix="dropper-")
    (d,) = _many(client, auth, 1, prefix="miner-")
    _set(service, a, status="reported", verdict="malicious", score=9.0)
    _set(service, b, status="failed", reason="test")
    _set(service, c, created=datetime(2020, 1, 1, tzinfo=UTC))

    def ids(query: str) -> set[str]:
        answer = client.get(f"/api/v1/tasks?{query}", headers=auth)
        assert answer.status_code == 200, answer.text
        return set(_ids(answer.json()))

    assert ids("status=reported") == {a}
    assert ids("status=failed") == {b}
    assert ids("status=pending") == {c, d}
    assert ids("verdict=malicious") == {a}
    assert ids("verdict=benign") == set()
    assert ids("name=miner") == {d}
    assert ids("name=DROPPER") == {a, b, c}
    assert ids("name=%25") == set()  # a literal "%", not a wildcard
    assert ids("until=2020-06-01T00:00:00") == {c}
    assert ids("since=2021-01-01T00:00:00Z") == {a, b, d}
    assert ids("since=2019-12-31T00:00:00%2B00:00&until=2020-01-02T00:00:00Z") == {c}
    sha = hashlib.sha256(b"sample miner-0").hexdigest()
    assert ids(f"sha256={sha}") == {d}
    assert ids(f"sha256={sha.upper()}") == {d}
    assert ids("status=reported&name=miner") == set()


def test_search_by_every_hash(client: TestClient, auth: dict[str, str]) -> None:
    data = b"#!/bin/sh\necho searched\n"
    first = submit(client, auth, data=data).json()
    second = submit(client, auth, data=data, force="yes").json()
    submit(client, auth, data=b"another sample")
    for digest, kind in (
        (hashlib.md5(data).hexdigest(), "md5"),  # noqa: S324
        (hashlib.sha1(data).hexdigest(), "sha1"),  # noqa: S324
        (hashlib.sha256(data).hexdigest(), "sha256"),
    ):
        answer = client.get(f"/api/v1/search?hash={digest.upper()}", headers=auth).json()
        assert answer["kind"] == kind
        assert answer["hash"] == digest
        assert [t["id"] for t in answer["items"]] == [second["id"], first["id"]]
    unknown = client.get("/api/v1/search?hash=" + "0" * 64, headers=auth).json()
    assert unknown["items"] == []


@pytest.mark.parametrize("digest", ["a" * 33, "z" * 32, "a" * 63, "", "a" * 65])
def test_search_refuses_what_is_not_a_hash(
    client: TestClient, auth: dict[str, str], digest: str
) -> None:
    answer = client.get(f"/api/v1/search?hash={digest}", headers=auth)
    assert answer.status_code == 422
    assert "hash" in answer.json()["detail"]


def test_status_with_substatus_and_progress(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    task_id = submit(client, auth).json()["id"]
    task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["status"] == "pending" and task["substatus"] == "queued"
    _set(service, task_id, status="running", substatus="running sample", progress=0.25)
    task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert (task["status"], task["substatus"], task["progress"]) == (
        "running",
        "running sample",
        0.25,
    )


def test_status_is_driven_by_the_real_worker(
    client: TestClient, auth: dict[str, str], backend: Backend
) -> None:
    task_id = submit(client, auth).json()["id"]
    backend.analyse(task_id)
    task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["status"] == "postprocessing"
    assert task["attempts"] == 1
    assert "pcap" in task["artefacts"] and "trace" in task["artefacts"]


def test_unknown_task_is_404(client: TestClient, auth: dict[str, str]) -> None:
    for path in (
        "/api/v1/tasks/nope",
        "/api/v1/tasks/nope/report",
        "/api/v1/tasks/nope/report.html",
        "/api/v1/tasks/nope/artefacts/pcap",
    ):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 404, path
        assert "nope" in answer.json()["detail"]
    assert client.delete("/api/v1/tasks/nope", headers=auth).status_code == 404
    assert client.post("/api/v1/tasks/nope/reprocess", headers=auth).status_code == 404
    assert client.get("/api/v1/tasks/" + "x" * 100, headers=auth).status_code == 422


def test_unknown_route_and_method_are_json(client: TestClient, auth: dict[str, str]) -> None:
    missing = client.get("/api/v1/nothing-here", headers=auth)
    assert missing.status_code == 404 and "nothing-here" in missing.json()["detail"]
    wrong = client.put("/api/v1/tasks", headers=auth)
    assert wrong.status_code == 405 and "PUT" in wrong.json()["detail"]


def test_delete_removes_row_and_stored_objects(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    task_id = submit(client, auth).json()["id"]
    storage = service.settings.home / "service" / "storage"
    assert any(task_id in str(p) for p in storage.rglob("*"))
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 404
    assert not any(task_id in str(p) for p in storage.rglob("*") if p.is_file())
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 404


def test_reprocess_of_an_unfinished_task_is_409(client: TestClient, auth: dict[str, str]) -> None:
    task_id = submit(client, auth).json()["id"]
    answer = client.post(f"/api/v1/tasks/{task_id}/reprocess", headers=auth)
    assert answer.status_code == 409
    assert answer.json()["detail"]


def test_report_before_reported_is_409(client: TestClient, auth: dict[str, str]) -> None:
    task_id = submit(client, auth).json()["id"]
    answer = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth)
    assert answer.status_code == 409
    assert "'pending'" in answer.json()["detail"]
    assert client.get(f"/api/v1/tasks/{task_id}/report.html", headers=auth).status_code == 409


def test_artefact_not_there_yet_is_404(client: TestClient, auth: dict[str, str]) -> None:
    task_id = submit(client, auth).json()["id"]
    answer = client.get(f"/api/v1/tasks/{task_id}/artefacts/pcap", headers=auth)
    assert answer.status_code == 404
    assert "pcap" in answer.json()["detail"]
    unknown = client.get(f"/api/v1/tasks/{task_id}/artefacts/passwd", headers=auth)
    assert unknown.status_code == 404
    assert "one of" in unknown.json()["detail"]


def test_sample_download_is_available_at_once(client: TestClient, auth: dict[str, str]) -> None:
    task_id = submit(client, auth).json()["id"]
    answer = client.get(f"/api/v1/tasks/{task_id}/artefacts/sample", headers=auth)
    assert answer.status_code == 200
    assert answer.content[:2] == b"PK"


def test_health(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/health", headers=auth)
    assert answer.status_code == 200
    health = answer.json()
    assert health["database"]["ok"] and health["queue"]["ok"] and health["storage"]["ok"]
    assert health["status"] == "degraded"  # no worker is running in these tests
    assert health["workers"] == []


def test_metrics_prometheus_and_json(client: TestClient, auth: dict[str, str]) -> None:
    _many(client, auth, 2)
    client.get("/api/v1/tasks", headers=auth)
    text = client.get("/api/v1/metrics", headers=auth)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.text.splitlines()
    assert 'aasee_tasks{status="pending"} 2' in lines
    assert 'aasee_queue_depth{queue="analysis"} 2' in lines
    assert any(
        line.startswith(
            'aasee_http_requests_total{method="GET",route="/api/v1/tasks",status="200"}'
        )
        for line in lines
    )
    assert any(
        line.startswith("aasee_http_request_seconds_bucket{") and 'le="+Inf"' in line
        for line in lines
    )
    for line in lines:  # every sample line is "name{labels} number"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    figures = client.get("/api/v1/metrics?format=json", headers=auth).json()
    assert figures["tasks"]["pending"] == 2 and figures["total"] == 2


def test_images(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/images", headers=auth).json() == [
        {
            "name": "debian-bookworm-amd64",
            "arch": "x86_64",
            "os": "debian-12",
            "workers": [],
            "local": True,
        }
    ]


def test_openapi_documents_every_endpoint(client: TestClient, auth: dict[str, str]) -> None:
    schema = client.get("/api/openapi.json", headers=auth).json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/tasks",
        "/api/v1/search",
        "/api/v1/tasks/{task_id}",
        "/api/v1/tasks/{task_id}/report",
        "/api/v1/tasks/{task_id}/report.html",
        "/api/v1/tasks/{task_id}/report/{part}",
        "/api/v1/tasks/{task_id}/artefacts/{name}",
        "/api/v1/tasks/{task_id}/reprocess",
        "/api/v1/images",
        "/api/v1/workers",
        "/api/v1/health",
        "/api/v1/metrics",
    }
    upload = paths["/api/v1/tasks"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"file", "timeout", "network", "arguments", "image", "priority", "force"} <= set(
        upload["schema"]["properties"]
    )
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_every_response_has_security_headers(client: TestClient, auth: dict[str, str]) -> None:
    for answer in (
        client.get("/api/v1/tasks", headers=auth),
        client.get("/api/v1/tasks"),
        client.get("/login"),
        client.get("/static/app.css"),
    ):
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"


def test_old_tasks_filter_by_date_only(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    (task_id,) = _many(client, auth, 1)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    _set(service, task_id, created=yesterday)
    day = yesterday.date().isoformat()
    page = client.get(f"/api/v1/tasks?since={day}", headers=auth).json()
    assert _ids(page) == [task_id]
