"""The Cuckoo 2-compatible API at the host's root (and under /v1, /cuckoo): submissions through
the same service path, integer task ids, Cuckoo's statuses for every task state, reports,
pcap, files, machines, status; errors as Cuckoo's ``{"message": ...}``."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aasee.processing.run_meta import RunMeta, read_run_meta, write_run_meta
from aasee.service.facade import TaskService
from aasee.service.models import Task

from .conftest import IMAGE, SAMPLE, UPLOAD_LIMIT, Backend
from .raw_artefacts import RunFiles, basic_run, pcap_bytes

NOT_EXECUTED = "the guest could not execute /tmp/bot: Exec format error"


def cuckoo_submit(
    client: TestClient,
    auth: dict[str, str],
    data: bytes = SAMPLE,
    filename: str = "sample.sh",
    path: str = "/tasks/create/file",
    **fields: str,
) -> httpx.Response:
    answer: httpx.Response = client.post(
        path, headers=auth, files={"file": (filename, data)}, data=fields
    )
    return answer


def submitted(client: TestClient, auth: dict[str, str], **fields: str) -> tuple[int, str]:
    """(Cuckoo task id, our task id) of a fresh submission."""
    answer = cuckoo_submit(client, auth, data=SAMPLE + str(fields).encode(), **fields)
    assert answer.status_code == 200, answer.text
    number = answer.json()["task_id"]
    view = client.get(f"/tasks/view/{number}", headers=auth).json()["task"]
    return number, view["aasee"]["id"]


def set_task(service: TaskService, task_id: str, **values: Any) -> None:
    # States no worker reaches in an API test, written straight into the real database.
    with service.db.write() as session:
        task = session.get(Task, task_id)
        assert task is not None
        for key, value in values.items():
            setattr(task, key, value)


class NotExecutedRun(RunFiles):
    """A run whose guest could not execute the sample."""

    def write(self, out_dir: Path, sample_name: str, run_id: str) -> None:
        super().write(out_dir, sample_name, run_id)
        meta = read_run_meta(out_dir).model_dump()
        meta.update(executed=False, not_executed_reason=NOT_EXECUTED)
        write_run_meta(RunMeta.model_validate(meta), out_dir)


def test_submit_answers_an_integer_task_id(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    answer = cuckoo_submit(client, auth)
    assert answer.status_code == 200
    body = answer.json()
    assert body == {"task_id": body["task_id"], "task_ids": [body["task_id"]]}
    assert isinstance(body["task_id"], int)
    task = service.get_by_number(body["task_id"])
    assert task is not None
    assert task.sha256 == hashlib.sha256(SAMPLE).hexdigest()
    assert task.filename == "sample.sh"
    # The same task on our own API, with the number in it.
    ours = client.get(f"/api/v1/tasks/{task.id}", headers=auth).json()
    assert ours["number"] == body["task_id"]


def test_numbers_count_up_and_are_never_reused(client: TestClient, auth: dict[str, str]) -> None:
    first, _ = submitted(client, auth, timeout="11")
    second, _ = submitted(client, auth, timeout="12")
    assert second == first + 1
    assert client.get(f"/tasks/delete/{second}", headers=auth).json() == {"status": "OK"}
    third, _ = submitted(client, auth, timeout="13")
    assert third == second + 1


def test_form_fields_map_to_our_options(client: TestClient, auth: dict[str, str]) -> None:
    number, task_id = submitted(
        client,
        auth,
        timeout="42",
        machine=IMAGE,
        priority="3",
        enforce_timeout="1",
        options="arguments=--fast 'two words',procmemdump=yes,route=drop",
        package="bash",
        platform="linux",
        tags="x,y",
        custom="ticket-17",
        owner="MISP",
        memory="1",
        clock="01-01-2024 00:00:00",
    )
    options = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()["options"]
    assert options["timeout"] == 42
    assert options["image"] == IMAGE
    assert options["priority"] == 2  # Cuckoo's 1..3 are our 0..2
    assert options["full_timeout"] is True
    assert options["arguments"] == ["--fast", "two words"]
    assert options["network"] == "isolated"  # route=drop
    view = client.get(f"/tasks/view/{number}", headers=auth).json()["task"]
    assert (view["timeout"], view["priority"], view["machine"], view["enforce_timeout"]) == (
        42,
        3,
        IMAGE,
        True,
    )


def test_zero_timeout_is_the_default(
    client: TestClient, auth: dict[str, str], service: TaskService
) -> None:
    _, task_id = submitted(client, auth, timeout="0", route="inetsim")
    task = service.get(task_id)
    assert task is not None
    assert task.options.timeout == service.settings.default_timeout
    assert task.options.network == "fake"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeout": "soon"}, "timeout 'soon' is not a number of seconds"),
        ({"timeout": "-5"}, "timeout '-5' is negative"),
        ({"timeout": "100000"}, "exceeds this service's maximum"),
        ({"priority": "high"}, "priority 'high' is not an integer"),
        ({"machine": "win7x64_8"}, f"Machine 'win7x64_8' does not exist. Available: {IMAGE}"),
        ({"route": "tor"}, "route 'tor' is not offered here"),
    ],
)
def test_bad_values_are_refused_clearly(
    client: TestClient, auth: dict[str, str], fields: dict[str, str], message: str
) -> None:
    answer = cuckoo_submit(client, auth, **fields)
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert client.get("/api/v1/tasks", headers=auth).json()["total"] == 0


def test_upload_limits_are_the_apis(client: TestClient, auth: dict[str, str]) -> None:
    answer = cuckoo_submit(client, auth, data=b"x" * (UPLOAD_LIMIT + 1))
    assert answer.status_code == 413
    assert "upload limit" in answer.json()["message"]
    empty = cuckoo_submit(client, auth, data=b"")
    assert empty.status_code == 400
    assert "empty" in empty.json()["message"]
    no_file = client.post("/tasks/create/file", headers=auth, data={"timeout": "5"})
    assert no_file.status_code in (400, 415)
    assert no_file.json()["message"]


def test_unique_refuses_a_known_file(client: TestClient, auth: dict[str, str]) -> None:
    assert cuckoo_submit(client, auth).status_code == 200
    again = cuckoo_submit(client, auth, unique="1")
    assert again.status_code == 400
    assert again.json() == {"message": "This file has already been submitted"}
    other = cuckoo_submit(client, auth, data=b"#!/bin/sh\necho other\n", unique="1")
    assert other.status_code == 200


def test_url_analysis_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.post("/tasks/create/url", headers=auth, data={"url": "http://example.com/"})
    assert answer.status_code == 400
    assert "URL analysis is not supported" in answer.json()["message"]
    assert client.get("/api/v1/tasks", headers=auth).json()["total"] == 0


def test_view_of_a_pending_task(client: TestClient, auth: dict[str, str]) -> None:
    number, task_id = submitted(client, auth)
    task = client.get(f"/tasks/view/{number}", headers=auth).json()["task"]
    assert task["id"] == number
    assert task["status"] == "pending"
    assert task["category"] == "file"
    assert task["target"] == "sample.sh"
    assert task["added_on"] is not None and task["started_on"] is None
    assert task["guest"] == {} and task["errors"] == []
    sample = task["sample"]
    assert sample["md5"] == hashlib.md5(SAMPLE + b"{}").hexdigest()  # noqa: S324
    assert sample["sha256"] == hashlib.sha256(SAMPLE + b"{}").hexdigest()
    assert sample["file_size"] == len(SAMPLE) + 2
    assert task["sample_id"] == sample["id"] == number
    assert task["aasee"]["id"] == task_id
    missing = client.get(f"/tasks/view/{number + 100}", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Task not found"}
    assert client.get("/tasks/view/abc", headers=auth).status_code == 400


STATES: list[tuple[dict[str, Any], str]] = [
    ({"status": "pending"}, "pending"),
    ({"status": "starting_vm"}, "running"),
    ({"status": "running"}, "running"),
    ({"status": "postprocessing", "artefacts": ["trace.log"]}, "running"),
    ({"status": "reported", "verdict": "benign", "score": 0.5}, "reported"),
    ({"status": "failed", "reason": "no guest image"}, "failed_analysis"),
    (
        {"status": "failed", "reason": "postprocessing failed: boom", "artefacts": ["trace.log"]},
        "failed_processing",
    ),
    (
        {
            "status": "failed",
            "reason": "the sample was not executed: x",
            "verdict": "not executed",
            "artefacts": ["trace.log"],
        },
        "failed_analysis",
    ),
]


@pytest.mark.parametrize(("state", "expected"), STATES)
def test_status_of_every_task_state(
    client: TestClient,
    auth: dict[str, str],
    service: TaskService,
    state: dict[str, Any],
    expected: str,
) -> None:
    number, task_id = submitted(client, auth)
    set_task(service, task_id, **state)
    task = client.get(f"/tasks/view/{number}", headers=auth).json()["task"]
    assert task["status"] == expected
    assert task["aasee"]["status"] == state["status"]
    if expected.startswith("failed"):
        assert task["errors"] == [state["reason"]]
    listed = client.get("/tasks/list", headers=auth).json()["tasks"]
    assert [t["status"] for t in listed if t["id"] == number] == [expected]


def test_report_of_a_reported_task(
    client: TestClient, auth: dict[str, str], backend: Backend
) -> None:
    number, task_id = submitted(client, auth)
    assert client.get(f"/tasks/report/{number}", headers=auth).status_code == 404
    backend.report(task_id)
    ours = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth).json()
    for path in (f"/tasks/report/{number}", f"/tasks/report/{number}/json"):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 200
        report = answer.json()
        assert report["info"]["id"] == number
        assert report["info"]["score"] == report["malscore"] == ours["score"]
        assert report["target"]["file"]["sha256"] == ours["sample"]["sha256"]
        assert [s["name"] for s in report["signatures"]] == [s["id"] for s in ours["signatures"]]
        assert report["aasee"]["task_id"] == task_id
    html = client.get(f"/tasks/report/{number}/html", headers=auth)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "sandbox" in html.headers["content-security-policy"]
    assert client.get(f"/tasks/report/{number}/pdf", headers=auth).json() == {
        "message": "Invalid report format"
    }


def test_report_all_is_a_tar_of_reports_and_capture(
    client: TestClient, auth: dict[str, str], backend: Backend
) -> None:
    number, task_id = submitted(client, auth)
    backend.report(task_id)
    answer = client.get(f"/tasks/report/{number}/all", headers=auth)
    assert answer.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:bz2") as tar:
        names = set(tar.getnames())
        assert names == {
            "reports/report.json",
            "reports/aasee.json",
            "reports/report.html",
            "dump.pcap",
        }
        pcap = tar.extractfile("dump.pcap")
        assert pcap is not None and pcap.read() == pcap_bytes()
        shaped = tar.extractfile("reports/report.json")
        assert shaped is not None and json.load(shaped)["info"]["id"] == number
    gz = client.get(f"/tasks/report/{number}/all?tar=gz", headers=auth)
    with tarfile.open(fileobj=io.BytesIO(gz.content), mode="r:gz") as tar:
        assert "dump.pcap" in tar.getnames()


def test_a_sample_not_executed_fails_its_analysis_and_has_no_score(
    client: TestClient, auth: dict[str, str], backend: Backend
) -> None:
    number, task_id = submitted(client, auth)
    run = basic_run()
    backend.analyse(task_id, NotExecutedRun(run.trace, run.root_pid))
    backend.postprocess(task_id)
    task = client.get(f"/tasks/view/{number}", headers=auth).json()["task"]
    assert task["status"] == "failed_analysis"
    assert any(NOT_EXECUTED in error for error in task["errors"])
    assert task["aasee"]["verdict"] == "not executed"
    report = client.get(f"/tasks/report/{number}", headers=auth).json()
    assert report["info"]["score"] is None
    assert report["malscore"] is None
    assert report["aasee"]["verdict"] == "not executed"
    assert NOT_EXECUTED in report["debug"]["errors"][0]


def test_pcap_streams_the_capture(
    client: TestClient, auth: dict[str, str], backend: Backend
) -> None:
    number, task_id = submitted(client, auth)
    assert client.get(f"/pcap/get/{number}", headers=auth).json() == {"message": "File not found"}
    backend.report(task_id)
    answer = client.get(f"/pcap/get/{number}", headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.content == pcap_bytes()
    assert client.get(f"/pcap/get/{number + 5}", headers=auth).status_code == 404


def test_files_view_by_md5_sha256_and_id(client: TestClient, auth: dict[str, str]) -> None:
    first = cuckoo_submit(client, auth).json()["task_id"]
    cuckoo_submit(client, auth, timeout="9")  # same file, another task
    md5 = hashlib.md5(SAMPLE).hexdigest()  # noqa: S324
    sha256 = hashlib.sha256(SAMPLE).hexdigest()
    for path in (f"/files/view/md5/{md5}", f"/files/view/sha256/{sha256.upper()}"):
        sample = client.get(path, headers=auth).json()["sample"]
        assert sample["id"] == first  # a sample's id is its first task's number
        assert (sample["md5"], sample["sha256"], sample["file_size"]) == (md5, sha256, len(SAMPLE))
    assert client.get(f"/files/view/id/{first}", headers=auth).json()["sample"]["sha256"] == sha256
    assert client.get(f"/files/view/md5/{'0' * 32}", headers=auth).status_code == 404
    bad = client.get("/files/view/md5/xyz", headers=auth)
    assert (bad.status_code, bad.json()) == (400, {"message": "Invalid lookup term"})


def test_delete(client: TestClient, auth: dict[str, str]) -> None:
    number, task_id = submitted(client, auth)
    assert client.get(f"/tasks/delete/{number}", headers=auth).json() == {"status": "OK"}
    assert client.get(f"/tasks/view/{number}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 404
    again = client.get(f"/tasks/delete/{number}", headers=auth)
    assert (again.status_code, again.json()) == (404, {"message": "Task not found"})


def test_list_with_limit_and_offset(client: TestClient, auth: dict[str, str]) -> None:
    numbers = [submitted(client, auth, timeout=str(10 + i))[0] for i in range(4)]
    newest_first = list(reversed(numbers))
    assert [t["id"] for t in client.get("/tasks/list", headers=auth).json()["tasks"]] == (
        newest_first
    )
    assert [t["id"] for t in client.get("/tasks/list/2", headers=auth).json()["tasks"]] == (
        newest_first[:2]
    )
    assert [t["id"] for t in client.get("/tasks/list/2/1", headers=auth).json()["tasks"]] == (
        newest_first[1:3]
    )


def test_machines_and_status(client: TestClient, auth: dict[str, str], backend: Backend) -> None:
    machines = client.get("/machines/list", headers=auth).json()["machines"]
    assert [(m["name"], m["label"], m["platform"]) for m in machines] == [(IMAGE, IMAGE, "linux")]
    assert machines[0]["status"] == "no live worker"
    machine = client.get(f"/machines/view/{IMAGE}", headers=auth).json()["machine"]
    assert machine["arch"] == "x86_64"
    assert client.get("/machines/view/win7", headers=auth).json() == {
        "message": "Machine not found"
    }
    _, task_id = submitted(client, auth)
    submitted(client, auth, timeout="7")
    backend.report(task_id)  # a sandbox worker has now been seen alive
    status = client.get("/cuckoo/status", headers=auth).json()
    assert status["tasks"]["total"] == 2
    assert status["tasks"]["pending"] == 1
    assert status["tasks"]["reported"] == 1
    assert status["machines"] == {"total": 1, "available": 1}
    assert status["hostname"] and status["version"].startswith("aasee-")
    assert status["diskspace"]["analyses"]["total"] > 0


@pytest.mark.parametrize("prefix", ["", "/v1", "/cuckoo"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_prefixes_and_trailing_slash(
    client: TestClient, auth: dict[str, str], prefix: str, slash: str
) -> None:
    answer = cuckoo_submit(client, auth, path=f"{prefix}/tasks/create/file{slash}")
    assert answer.status_code == 200
    number = answer.json()["task_id"]
    view = client.get(f"{prefix}/tasks/view/{number}{slash}", headers=auth)
    assert view.json()["task"]["id"] == number
    assert client.get(f"{prefix}/cuckoo/status{slash}", headers=auth).status_code == 200


def test_our_own_routes_are_untouched(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/tasks", headers=auth).status_code == 200
    assert client.get("/analyses", follow_redirects=False).status_code == 303
