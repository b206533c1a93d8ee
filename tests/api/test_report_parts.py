"""The lists report.json shows only the start of, served whole by the API on demand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.processing.tracegen import BENCH_ROOT_PID, started, worker_round

from .conftest import Backend, submit
from .raw_artefacts import RunFiles

WORKERS = 250


def busy_run() -> RunFiles:
    """A sample forking many workers: more processes and file writes than report.json shows."""
    trace = started(BENCH_ROOT_PID, "/tmp/sample", ["/tmp/sample"])
    for n in range(WORKERS):
        worker_round(trace, 1000 + n, n)
    return RunFiles(trace=trace.lines, root_pid=BENCH_ROOT_PID)


@pytest.fixture
def busy(client: TestClient, auth: dict[str, str], backend: Backend) -> dict[str, Any]:
    answer = submit(client, auth, filename="busy.sh", timeout="10")
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["id"]
    backend.report(task_id, busy_run())
    report: dict[str, Any] = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth).json()
    return {"id": task_id, "report": report}


def test_report_names_its_parts(busy: dict[str, Any]) -> None:
    report = busy["report"]
    paged = report["paged"]
    assert paged["processes"]["total"] == WORKERS + 1
    assert paged["processes"]["shown"] == len(report["processes"]) < WORKERS
    assert paged["files.written"]["total"] == 20 * WORKERS
    assert paged["files.written"]["path"] == "report/files.written.jsonl"


def test_part_is_served_whole(
    client: TestClient, auth: dict[str, str], busy: dict[str, Any]
) -> None:
    url = f"/api/v1/tasks/{busy['id']}/report/files.written"
    answer = client.get(url, headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    entries = [json.loads(line) for line in answer.text.splitlines()]
    report = busy["report"]
    assert len(entries) == report["paged"]["files.written"]["total"]
    assert entries[: len(report["files"]["written"])] == report["files"]["written"]
    # The relative link of report.html (report/<list>.jsonl) reaches the same file.
    same = client.get(url + ".jsonl", headers=auth)
    assert same.status_code == 200 and same.content == answer.content


def test_part_page(client: TestClient, auth: dict[str, str], busy: dict[str, Any]) -> None:
    base = f"/api/v1/tasks/{busy['id']}/report/processes"
    whole = [json.loads(line) for line in client.get(base, headers=auth).text.splitlines()]
    answer = client.get(base, params={"offset": 240, "limit": 50}, headers=auth)
    assert answer.status_code == 200
    page = answer.json()
    assert page["part"] == "processes"
    assert (page["offset"], page["limit"], page["total"]) == (240, 50, WORKERS + 1)
    assert page["items"] == whole[240:]
    tree = client.get(f"/api/v1/tasks/{busy['id']}/report/process_tree", headers=auth)
    roots = [json.loads(line) for line in tree.text.splitlines()]
    assert len(roots[0]["children"]) == WORKERS


def test_parts_need_authentication(client: TestClient, busy: dict[str, Any]) -> None:
    answer = client.get(f"/api/v1/tasks/{busy['id']}/report/processes")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("part", "statuses"),
    [
        ("files.read", {404}),  # a list shown whole: no file
        ("nothing", {404}),
        ("FILES.written", {422}),
        ("a-b", {422}),
        ("files%2Fwritten", {404, 422}),
    ],
)
def test_unknown_parts(
    client: TestClient,
    auth: dict[str, str],
    busy: dict[str, Any],
    part: str,
    statuses: set[int],
) -> None:
    answer = client.get(f"/api/v1/tasks/{busy['id']}/report/{part}", headers=auth)
    assert answer.status_code in statuses, answer.text


def test_small_report_has_no_parts(
    client: TestClient, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    report = client.get(f"/api/v1/tasks/{reported['id']}/report", headers=auth).json()
    assert "paged" not in report
    answer = client.get(f"/api/v1/tasks/{reported['id']}/report/processes", headers=auth)
    assert answer.status_code == 404


def test_unknown_task(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/tasks/nope/report/processes", headers=auth)
    assert answer.status_code == 404


def test_reprocessing_replaces_the_parts(
    client: TestClient, auth: dict[str, str], backend: Backend, busy: dict[str, Any]
) -> None:
    task_id = busy["id"]
    answer = client.post(f"/api/v1/tasks/{task_id}/reprocess", headers=auth)
    assert answer.status_code == 202, answer.text
    assert backend.postprocess(task_id)
    again = client.get(f"/api/v1/tasks/{task_id}/report/files.written", headers=auth)
    assert len(again.text.splitlines()) == 20 * WORKERS
