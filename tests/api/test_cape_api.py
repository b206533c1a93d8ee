"""The CAPE v2-compatible API under /apiv2/: CAPE's ``{"error", "data"}`` envelope on every
answer, its HTTP 200 for application errors, both trailing-slash forms, reports only once
reported, and the same tasks, numbers and statuses as the Cuckoo API."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService

from .conftest import IMAGE, SAMPLE, Backend
from .raw_artefacts import basic_run, pcap_bytes
from .test_cuckoo_api import NOT_EXECUTED, NotExecutedRun, set_task


@pytest.fixture
def cape(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def cape_submit(
    client: TestClient, cape: dict[str, str], data: bytes = SAMPLE, **fields: str
) -> httpx.Response:
    answer: httpx.Response = client.post(
        "/apiv2/tasks/create/file/", headers=cape, files={"file": ("s.sh", data)}, data=fields
    )
    return answer


def created(client: TestClient, cape: dict[str, str], **fields: str) -> tuple[int, str]:
    body = cape_submit(client, cape, data=SAMPLE + str(fields).encode(), **fields).json()
    assert body["error"] is False, body
    number = body["data"]["task_ids"][0]
    task = client.get(f"/apiv2/tasks/view/{number}/", headers=cape).json()["data"]
    return number, task["aasee"]["id"]


def test_create_file(client: TestClient, cape: dict[str, str], service: TaskService) -> None:
    answer = cape_submit(client, cape, machine=IMAGE, timeout="30")
    assert answer.status_code == 200
    body = answer.json()
    assert body["error"] is False
    assert body["errors"] == []
    (number,) = body["data"]["task_ids"]
    assert body["data"]["task_id"] == number
    assert body["data"]["message"] == f"Task ID {number} has been submitted"
    task = service.get_by_number(number)
    assert task is not None
    assert (task.options.image, task.options.timeout) == (IMAGE, 30)
    assert body["url"] == [f"http://testserver/analyses/{task.id}"]


def test_create_errors_are_capes_envelope(client: TestClient, cape: dict[str, str]) -> None:
    unknown = cape_submit(client, cape, machine="win7x64_8")
    assert unknown.status_code == 200
    assert unknown.json() == {
        "error": True,
        "error_value": f"Machine 'win7x64_8' does not exist. Available: {IMAGE}",
        "errors": [{"file": f"Machine 'win7x64_8' does not exist. Available: {IMAGE}"}],
    }
    no_file = client.post("/apiv2/tasks/create/file/", headers=cape, files={"x": ("a", b"b")})
    assert no_file.json()["error"] is True
    assert no_file.json()["error_value"]


def test_not_unique_is_what_intelowl_recognises(client: TestClient, cape: dict[str, str]) -> None:
    assert cape_submit(client, cape).json()["error"] is False
    again = cape_submit(client, cape, unique="1").json()
    assert again["error"] is True
    assert again["error_value"] == "Error adding task to database"
    assert list(again["errors"][0].values())[0] == (
        "Not unique, as unique option set on submit or in conf/web.conf"
    )
    assert list(again["errors"][0]) == ["s.sh"]


def test_url_is_refused(client: TestClient, cape: dict[str, str]) -> None:
    answer = client.post("/apiv2/tasks/create/url/", headers=cape, data={"url": "http://a.b/"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["error"] is True
    assert "URL analysis is not supported" in body["error_value"]


def test_status_view_and_list(
    client: TestClient, cape: dict[str, str], service: TaskService
) -> None:
    number, task_id = created(client, cape)
    status = client.get(f"/apiv2/tasks/status/{number}/", headers=cape).json()
    assert status == {"error": False, "data": "pending"}
    set_task(service, task_id, status="running")
    assert client.get(f"/apiv2/tasks/status/{number}", headers=cape).json()["data"] == "running"
    view = client.get(f"/apiv2/tasks/view/{number}/", headers=cape).json()
    assert view["error"] is False
    assert view["data"]["id"] == number
    assert view["data"]["target"] == "s.sh"  # CAPE shows the file name only
    assert view["data"]["sample"]["sha256"] == hashlib.sha256(SAMPLE + b"{}").hexdigest()
    missing = client.get(f"/apiv2/tasks/view/{number + 9}/", headers=cape)
    assert missing.status_code == 200
    assert missing.json() == {"error": True, "error_value": "Task not found in database"}
    assert client.get(f"/apiv2/tasks/status/{number + 9}/", headers=cape).json() == {
        "error": True,
        "error_value": "Task does not exist",
    }
    second, _ = created(client, cape, timeout="8")
    listed = client.get("/apiv2/tasks/list/", headers=cape).json()
    assert listed["error"] is False
    assert [t["id"] for t in listed["data"]] == [second, number]
    assert listed["buf"] == 2
    assert listed["config"] == "Limit: 50, Offset: 0"
    page = client.get("/apiv2/tasks/list/1/1/", headers=cape).json()
    assert [t["id"] for t in page["data"]] == [number]


@pytest.mark.parametrize("kind", ["md5", "sha1", "sha256"])
def test_search_by_hash(client: TestClient, cape: dict[str, str], kind: str) -> None:
    first = cape_submit(client, cape).json()["data"]["task_ids"][0]
    second = cape_submit(client, cape, timeout="9").json()["data"]["task_ids"][0]
    digest = hashlib.new(kind, SAMPLE).hexdigest()
    found = client.get(f"/apiv2/tasks/search/{kind}/{digest}/", headers=cape).json()
    assert found["error"] is False
    assert [t["id"] for t in found["data"]] == [second, first]
    nothing = client.get(f"/apiv2/tasks/search/{kind}/{'0' * len(digest)}", headers=cape)
    assert nothing.json() == {"error": False, "data": []}
    bad = client.get(f"/apiv2/tasks/search/{kind}/nothex/", headers=cape).json()
    assert bad["error"] is True


def test_report_waits_for_reported(
    client: TestClient, cape: dict[str, str], backend: Backend
) -> None:
    number, task_id = created(client, cape)
    early = client.get(f"/apiv2/tasks/get/report/{number}/", headers=cape)
    assert early.status_code == 200
    assert early.json() == {"error": True, "error_value": "Task is still being analyzed"}
    backend.report(task_id)
    answer = client.get(f"/apiv2/tasks/get/report/{number}/", headers=cape)  # json: default
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f"attachment; filename={number}_report.json"
    report = answer.json()
    assert report["info"]["id"] == number
    assert isinstance(report["malscore"], float)
    assert "behavior" in report
    same = client.get(f"/apiv2/tasks/get/report/{number}/json/", headers=cape).json()
    assert same == report
    lite = client.get(f"/apiv2/tasks/get/report/{number}/litereport", headers=cape).json()
    assert "behavior" not in lite
    assert lite["signatures"] == report["signatures"]
    html = client.get(f"/apiv2/tasks/get/report/{number}/html/", headers=cape)
    assert html.headers["content-type"].startswith("text/html")
    zipped = client.get(f"/apiv2/tasks/get/report/{number}/json/zip/", headers=cape)
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert archive.namelist() == [f"{number}_report.json"]
    assert client.get(f"/apiv2/tasks/get/report/{number}/maec/", headers=cape).json() == {
        "error": True,
        "error_value": "Invalid report format specified",
    }


def test_a_sample_not_executed_is_a_failed_task(
    client: TestClient, cape: dict[str, str], backend: Backend
) -> None:
    number, task_id = created(client, cape)
    run = basic_run()
    backend.analyse(task_id, NotExecutedRun(run.trace, run.root_pid))
    backend.postprocess(task_id)
    status = client.get(f"/apiv2/tasks/status/{number}/", headers=cape).json()
    assert status == {"error": False, "data": "failed_analysis"}
    report = client.get(f"/apiv2/tasks/get/report/{number}/", headers=cape).json()
    assert report["error"] is True
    assert report["error_value"].startswith("Task failed: ")
    assert NOT_EXECUTED in report["error_value"]


def test_pcap(client: TestClient, cape: dict[str, str], backend: Backend) -> None:
    number, task_id = created(client, cape)
    assert client.get(f"/apiv2/tasks/get/pcap/{number}/", headers=cape).json() == {
        "error": True,
        "error_value": "Task is still being analyzed",
    }
    backend.report(task_id)
    answer = client.get(f"/apiv2/tasks/get/pcap/{number}/", headers=cape)
    assert answer.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert answer.headers["content-disposition"] == f"attachment; filename={number}_dump.pcap"
    assert answer.content == pcap_bytes()


def test_delete_one_and_many(client: TestClient, cape: dict[str, str]) -> None:
    a, _ = created(client, cape, timeout="5")
    b, _ = created(client, cape, timeout="6")
    c, _ = created(client, cape, timeout="7")
    one = client.get(f"/apiv2/tasks/delete/{a}/", headers=cape).json()
    assert one == {"error": False, "data": f"Task(s) ID(s) {a} has been deleted"}
    many = client.get(f"/apiv2/tasks/delete/{b},{c},{a}/", headers=cape).json()
    assert many["error"] is True
    assert many["data"] == f"Task(s) ID(s) {b},{c} has been deleted"
    assert many["failed"] == f"Task(s) ID(s) {a} failed to remove"
    assert client.get("/apiv2/tasks/list/", headers=cape).json()["data"] == []


def test_delete_only_in_the_given_status(
    client: TestClient, cape: dict[str, str], service: TaskService
) -> None:
    number, task_id = created(client, cape)
    kept = client.get(f"/apiv2/tasks/delete/{number}/reported/", headers=cape).json()
    assert kept["error"] is True
    assert service.get(task_id) is not None
    gone = client.get(f"/apiv2/tasks/delete/{number}/pending/", headers=cape).json()
    assert gone["error"] is False
    assert service.get(task_id) is None


def test_files_view(client: TestClient, cape: dict[str, str]) -> None:
    number = cape_submit(client, cape).json()["data"]["task_ids"][0]
    for kind in ("md5", "sha1", "sha256"):
        digest = hashlib.new(kind, SAMPLE).hexdigest()
        body = client.get(f"/apiv2/files/view/{kind}/{digest}/", headers=cape).json()
        assert body["error"] is False
        assert body["data"][kind] == digest
        assert body["data"]["id"] == number
    by_id = client.get(f"/apiv2/files/view/id/{number}/", headers=cape).json()
    assert by_id["data"]["sha256"] == hashlib.sha256(SAMPLE).hexdigest()
    assert client.get("/apiv2/files/view/id/999/", headers=cape).json() == {
        "error": True,
        "error_value": "Sample not found in database",
    }


def test_machines_and_status(client: TestClient, cape: dict[str, str]) -> None:
    machines = client.get("/apiv2/machines/list/", headers=cape).json()
    assert machines["error"] is False
    assert [m["name"] for m in machines["data"]] == [IMAGE]
    assert client.get(f"/apiv2/machines/view/{IMAGE}/", headers=cape).json()["data"]["label"] == (
        IMAGE
    )
    assert client.get("/apiv2/machines/view/win7/", headers=cape).json() == {
        "error": True,
        "error_value": "Machine not found",
    }
    created(client, cape)
    status = client.get("/apiv2/cuckoo/status/", headers=cape).json()
    assert status["error"] is False
    data: dict[str, Any] = status["data"]
    assert data["tasks"]["total"] == data["tasks"]["pending"] == 1
    assert data["machines"]["total"] == 1
    assert data["server"]["storage"]["total"] > 0


def test_unknown_endpoint_is_an_envelope_404(client: TestClient, cape: dict[str, str]) -> None:
    answer = client.get("/apiv2/tasks/get/procmemory/1/", headers=cape)
    assert answer.status_code == 404
    assert answer.json() == {
        "error": True,
        "error_value": "no such CAPE API endpoint: /apiv2/tasks/get/procmemory/1/",
    }


@pytest.mark.parametrize(
    "path",
    ["/apiv2/tasks/list", "/apiv2/tasks/list/", "/apiv2/cuckoo/status", "/apiv2/cuckoo/status/"],
)
def test_both_slash_forms(client: TestClient, cape: dict[str, str], path: str) -> None:
    answer = client.get(path, headers=cape, follow_redirects=False)
    assert answer.status_code == 200
    assert answer.json()["error"] is False
