"""Third-party Cuckoo and CAPE clients against a real server, and who may call the compat APIs.

``sandboxapi`` (InQuest) runs unchanged. The others are replays of the requests their code
makes and of every field it reads from the answers (each test names the client, its file and
the fields): TheHive/Cortex's CuckooSandbox analyzer, IntelOwl's Cuckoo and CAPE analyzers and
MISP's cuckoo_submit module. Tokens go as ``Bearer`` or ``Token``; without one, only callers
from ``compat_anonymous_networks`` get in, and only on the compat routes.
"""

from __future__ import annotations

import hashlib
import io
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sandboxapi.cuckoo import CuckooAPI

from aasee.service.facade import TaskService
from aasee.service.settings import Settings
from aasee.web.app import create_app

from .conftest import IMAGE, SAMPLE, Backend, LiveServer, running


def _app(settings: Settings, *networks: str) -> FastAPI:
    return create_app(settings.model_copy(update={"compat_anonymous_networks": list(networks)}))


@pytest.fixture
def open_server(settings: Settings) -> Iterator[tuple[LiveServer, TaskService]]:
    """A live server that lets 127.0.0.1 use the compat APIs without a token."""
    app = _app(settings, "127.0.0.1/32")
    with running(app) as server:
        yield server, app.state.web.service


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[LiveServer, TaskService]]:
    app = _app(settings)
    with running(app) as live:
        yield live, app.state.web.service


def _uuid(service: TaskService, number: Any) -> str:
    task = service.get_by_number(int(number))
    assert task is not None
    return task.id


# --- auth ------------------------------------------------------------------------------------

COMPAT_ROUTES = [
    ("POST", "/tasks/create/file"),
    ("GET", "/tasks/list"),
    ("GET", "/tasks/view/1"),
    ("GET", "/tasks/report/1/json"),
    ("GET", "/tasks/delete/1"),
    ("GET", "/files/view/id/1"),
    ("GET", "/pcap/get/1"),
    ("GET", "/cuckoo/status"),
    ("GET", "/machines/list"),
    ("GET", "/v1/cuckoo/status"),
    ("POST", "/apiv2/tasks/create/file/"),
    ("GET", "/apiv2/tasks/status/1/"),
    ("GET", "/apiv2/tasks/get/report/1/"),
    ("GET", "/apiv2/cuckoo/status/"),
    ("GET", "/apiv2/machines/list/"),
]


@pytest.mark.parametrize(("method", "path"), COMPAT_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer ", "Token", "Basic dXNlcjpwYXNz"])
def test_no_token_is_401_in_the_apis_style(
    client: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = client.request(method, path, headers=headers)
    assert answer.status_code == 401
    body = answer.json()
    if path.startswith("/apiv2/"):
        assert answer.headers["www-authenticate"] == "Token"
        assert body["error"] is True
        assert "authentication required" in body["error_value"]
        assert body["detail"] == body["error_value"]
    else:
        assert answer.headers["www-authenticate"] == "Bearer"
        assert list(body) == ["message"]
        assert "authentication required" in body["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "token"])
@pytest.mark.parametrize("path", ["/cuckoo/status", "/apiv2/cuckoo/status/"])
def test_bearer_and_token_are_both_accepted(
    client: TestClient, token: str, scheme: str, path: str
) -> None:
    assert client.get(path, headers={"Authorization": f"{scheme} {token}"}).status_code == 200


@pytest.mark.parametrize("path", ["/cuckoo/status", "/apiv2/cuckoo/status/"])
def test_wrong_or_revoked_token_is_401(
    client: TestClient, service: TaskService, token: str, path: str
) -> None:
    wrong = client.get(path, headers={"Authorization": f"Token {token}x"})
    assert wrong.status_code == 401
    assert "invalid or has been revoked" in wrong.text
    service.revoke_token("tester")
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_anonymous_only_from_a_listed_network(
    open_server: tuple[LiveServer, TaskService], settings: Settings, token: str
) -> None:
    live, _ = open_server
    for path in ("/cuckoo/status", "/apiv2/cuckoo/status/", "/tasks/list"):
        assert requests.get(live.url + path, timeout=10).status_code == 200
        # MISP sends an empty bearer when it has no key: that is no token.
        empty = requests.get(live.url + path, headers={"Authorization": "Bearer "}, timeout=10)
        assert empty.status_code == 200
    # A wrong token is refused even from a listed network...
    wrong = requests.get(
        live.url + "/cuckoo/status", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert wrong.status_code == 401
    # ...and our own API still wants a token from everyone.
    assert requests.get(live.url + "/api/v1/tasks", timeout=10).status_code == 401
    # A server listing other networks refuses 127.0.0.1.
    with running(_app(settings, "10.0.0.0/8", "::1/128")) as other:
        refused = requests.get(other.url + "/cuckoo/status", timeout=10)
        assert refused.status_code == 401
        assert "authentication required" in refused.json()["message"]


def test_anonymous_networks_are_validated() -> None:
    settings = Settings.model_validate({"compat_anonymous_networks": ["10.1.2.3/8", "::1"]})
    assert settings.compat_anonymous_networks == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="compat_anonymous_networks"):
        Settings.model_validate({"compat_anonymous_networks": ["not-a-network"]})


# --- sandboxapi, unchanged -------------------------------------------------------------------


def test_sandboxapi_cuckoo_client(
    open_server: tuple[LiveServer, TaskService], settings: Settings
) -> None:
    """InQuest sandboxapi's CuckooAPI (it cannot send a token: 127.0.0.1 is listed)."""
    live, service = open_server
    cuckoo = CuckooAPI(live.url + "/")
    assert cuckoo.is_available()
    item_id = cuckoo.analyze(io.BytesIO(SAMPLE), "sample.sh")
    assert item_id.isdigit()
    assert cuckoo.check(item_id) is False
    assert cuckoo.queue_size() == 1
    assert [a["id"] for a in cuckoo.analyses()] == [int(item_id)]
    Backend(settings).report(_uuid(service, item_id))
    assert cuckoo.check(item_id) is True
    report = cuckoo.report(item_id)
    assert isinstance(report, dict)
    assert report["info"]["id"] == int(item_id)
    score = cuckoo.score(report)
    ours = service.get_by_number(int(item_id))
    assert ours is not None and ours.score is not None
    assert score == ours.score
    html = cuckoo.report(item_id, "html")
    assert isinstance(html, bytes) and b"<html" in html.lower()
    assert cuckoo.queue_size() == 0
    assert cuckoo.delete(item_id) is True
    assert cuckoo.check(item_id) is False  # unknown id now: 404
    assert cuckoo.delete(item_id) is False


def test_sandboxapi_refused_without_a_listed_network(
    server: tuple[LiveServer, TaskService],
) -> None:
    live, _ = server
    cuckoo = CuckooAPI(live.url + "/")
    assert cuckoo.is_available() is False
    with pytest.raises(KeyError):  # it reads task_id from the 401's {"message": ...}
        cuckoo.analyze(io.BytesIO(SAMPLE), "sample.sh")


# --- replays of the other clients -------------------------------------------------------------


def test_cortex_cuckoosandbox_analyzer(
    server: tuple[LiveServer, TaskService], settings: Settings, token: str
) -> None:
    """TheHive-Project/Cortex-Analyzers analyzers/CuckooSandbox/cuckoosandbox_analyzer.py:
    POST tasks/create/file (Bearer), task id from task_ids[0] else task_id, on error
    json()['message']; poll tasks/view/{id} ['task']['status'] until 'reported'; GET
    tasks/report/{id}/json and read signatures[].description, suricata/snort alerts if
    present, network.domains[] (ip, domain), network.http[].uri, malscore (else
    info.score), malfamily, target.file.type (joined), target.file.yara[] name and meta;
    its summary compares malscore with 6.5 and 2. The older version reads
    network.hosts[] (ip, hostname, country_name) and malscore, malfamily directly."""
    live, service = server
    url = live.url + "/"
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(
        url + "tasks/create/file",
        files={"file": ("sample.sh", io.BytesIO(SAMPLE))},
        headers=headers,
        timeout=10,
    )
    body = response.json()
    task_id = body["task_ids"][0] if "task_ids" in body else body["task_id"]
    status = requests.get(url + f"tasks/view/{task_id}", headers=headers, timeout=10)
    assert status.json()["task"]["status"] != "reported"
    Backend(settings).report(_uuid(service, task_id))
    status = requests.get(url + f"tasks/view/{task_id}", headers=headers, timeout=10)
    assert status.json()["task"]["status"] == "reported"
    resp_json = requests.get(
        url + f"tasks/report/{task_id}/json", headers=headers, timeout=10
    ).json()
    signatures = [x["description"] for x in resp_json["signatures"]]
    assert signatures and all(isinstance(s, str) and s for s in signatures)
    assert "suricata" not in resp_json and "snort" not in resp_json
    network = resp_json["network"]
    domains = [(x["ip"], x["domain"]) for x in network["domains"]] if "domains" in network else []
    uri = [x["uri"] for x in network["http"]] if "http" in network else []
    hosts = [(x["ip"], x["hostname"], x["country_name"]) for x in network["hosts"]]
    malscore = resp_json["malscore"] if "malscore" in resp_json else resp_json["info"]["score"]
    malfamily = resp_json.get("malfamily", None)
    file_type = "".join(list(resp_json["target"]["file"]["type"]))
    yara = [
        x["name"] + " - " + x["meta"]["description"] if "description" in x["meta"] else x["name"]
        for x in resp_json["target"]["file"]["yara"]
    ]
    level = "malicious" if malscore > 6.5 else "suspicious" if malscore > 2 else "safe"
    ours = service.get_by_number(task_id)
    assert ours is not None
    assert malscore == ours.score
    assert level in ("malicious", "suspicious", "safe")
    assert isinstance(malfamily, str)
    assert file_type and isinstance(yara, list) and isinstance(domains, list)
    assert isinstance(uri, list)
    # The run's capture holds one UDP datagram to 203.0.113.50:4444 (raw_artefacts).
    assert ("203.0.113.50", "", "") in hosts
    # Its URL analysis: task_id absent, status not 401, so it shows json()['message'].
    refused = requests.post(
        url + "tasks/create/url", data={"url": "http://x.test/"}, headers=headers, timeout=10
    )
    assert "task_id" not in refused.json()
    assert refused.status_code != 401
    assert "URL analysis is not supported" in refused.json()["message"]


def test_intelowl_cuckoo_analyzer(
    server: tuple[LiveServer, TaskService], settings: Settings, token: str
) -> None:
    """intelowlproject/IntelOwl api_app/analyzers_manager/file_analyzers/cuckoo_scan.py:
    a Session with 'Authorization: Bearer'; POST CUCKOO_URL + 'tasks/create/file' until 200;
    task id from task_ids[0] else task_id; poll tasks/view/{id} .task.status until 'reported'
    ('failed_processing' raises); GET tasks/report/{id}/json and read signatures[]
    (description, name, severity, marks, marks[].ioc / .config), suricata.alerts,
    network.http[].uri, network.domains[] ip/domain, network.dns[] type/answers/request,
    info.score/machine/new_stats/id, malfamily, static, behavior.generic/apistats/
    processtree/anomaly, extracted, debug, target.file.type and yara[].name."""
    live, service = server
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    cuckoo_url = live.url + "/"
    response = session.post(
        cuckoo_url + "tasks/create/file", files={"file": ("dropper.sh", SAMPLE)}, timeout=10
    )
    assert response.status_code == 200
    json_response = response.json()
    task_id = (
        json_response["task_ids"][0]
        if "task_ids" in json_response
        else json_response.get("task_id", 1)
    )
    poll = session.get(cuckoo_url + "tasks/view/" + str(task_id), timeout=10).json()
    assert poll.get("task", {}).get("status", None) in ("pending", "running")
    Backend(settings).report(_uuid(service, task_id))
    status = session.get(cuckoo_url + "tasks/view/" + str(task_id), timeout=10).json()
    assert status.get("task", {}).get("status", None) == "reported"
    report = session.get(cuckoo_url + "tasks/report/" + str(task_id) + "/json", timeout=10)
    json_response = report.json()
    for sig in json_response.get("signatures", []):
        detailed = {
            "description": sig.get("description", ""),
            "name": sig.get("name", ""),
            "severity": sig.get("severity", ""),
            "marks": sig.get("marks", []),
        }
        assert detailed["name"] and detailed["severity"] in (1, 2, 3, 4)
        for mark in detailed["marks"]:
            assert isinstance(mark.get("ioc", ""), str)
            assert isinstance(mark.get("config", {}), dict)
    assert [a for a in json_response.get("suricata", {}).get("alerts", [])] == []
    network_data = json_response.get("network", {})
    uri = [n["uri"] for n in network_data.get("http", [])]
    domains = [{"ip": n["ip"], "domain": n["domain"]} for n in network_data.get("domains", [])]
    answered = [
        d["request"]
        for d in network_data.get("dns", {})
        if d.get("type", "") == "A" and d.get("answers", []) and d.get("request", "")
    ]
    info_data = json_response.get("info", {})
    ours = service.get_by_number(task_id)
    assert ours is not None
    assert info_data.get("score", None) == ours.score
    assert info_data.get("id", "") == task_id
    assert isinstance(info_data.get("machine", {}), dict)
    assert info_data.get("new_stats", None) is None
    assert isinstance(json_response.get("malfamily", None), str)
    behavior = json_response.get("behavior", {})
    assert isinstance(behavior.get("generic", {}), list)
    assert isinstance(behavior.get("apistats", {}), dict)
    assert behavior.get("processtree", {})
    assert behavior.get("anomaly", {}) == []
    assert json_response.get("extracted", {}) == {}
    assert isinstance(json_response.get("debug", {}), dict)
    assert isinstance(json_response.get("static", {}), dict)
    file_data = json_response.get("target", {}).get("file", {})
    assert "".join(list(file_data.get("type", "")))
    assert [y["name"] for y in file_data.get("yara", [])] == []
    assert isinstance(uri, list) and isinstance(domains, list) and isinstance(answered, list)


def test_intelowl_cape_analyzer(
    server: tuple[LiveServer, TaskService], settings: Settings, token: str
) -> None:
    """intelowlproject/IntelOwl api_app/analyzers_manager/file_analyzers/cape_sandbox.py:
    a Session with 'Authorization: Token'; POST /apiv2/tasks/create/file/ with data
    machine=VM_NAME, raise_for_status; error is False -> url, data.task_ids[0]; poll
    /apiv2/tasks/status/{id} (raise_for_status; error; data in pending/running/processing
    waits, reported/completed fetches /apiv2/tasks/get/report/{id}/json). On 'Not unique'
    (errors[0]'s value) it searches /apiv2/tasks/search/md5/{md5} -> data[0].id and fetches
    that report."""
    live, service = server
    base = live.url
    session = requests.Session()
    session.headers = {"Authorization": f"Token {token}"}  # type: ignore[assignment]
    response = session.post(
        base + "/apiv2/tasks/create/file/",
        files={"file": ("bot.sh", SAMPLE)},
        data={"machine": IMAGE},
        timeout=10,
    )
    response.raise_for_status()
    response_json = response.json()
    assert response_json.get("error") is False
    assert response_json.get("url")
    task_id = response_json.get("data").get("task_ids")[0]
    status_api = base + "/apiv2/tasks/status/" + str(task_id)
    request = session.get(status_api, timeout=10)
    request.raise_for_status()
    assert not request.json().get("error")
    assert request.json().get("data") in ("pending", "running", "processing")
    Backend(settings).report(_uuid(service, task_id))
    request = session.get(status_api, timeout=10)
    data = request.json().get("data")
    assert data in ("reported", "completed")
    final = session.get(base + "/apiv2/tasks/get/report/" + str(task_id) + "/json", timeout=10)
    final.raise_for_status()
    results = final.json()
    assert not results.get("error")
    assert results["info"]["id"] == task_id

    # The same file again on a CAPE set to refuse duplicates (here: unique=1).
    again = session.post(
        base + "/apiv2/tasks/create/file/",
        files={"file": ("bot.sh", SAMPLE)},
        data={"machine": IMAGE, "unique": "1"},
        timeout=10,
    ).json()
    assert again.get("error") is not False
    assert (
        list(again.get("errors")[0].values())[0]
        == "Not unique, as unique option set on submit or in conf/web.conf"
    )
    search = session.get(base + "/apiv2/tasks/search/md5/" + _md5(SAMPLE), timeout=10)
    search.raise_for_status()
    status_id = str(search.json().get("data")[0].get("id"))
    assert status_id == str(task_id)
    known = session.get(base + "/apiv2/tasks/get/report/" + status_id + "/json", timeout=10)
    assert known.json()["malscore"] == results["malscore"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324


def test_misp_cuckoo_submit(
    server: tuple[LiveServer, TaskService], open_server: tuple[LiveServer, TaskService], token: str
) -> None:
    """MISP/misp-modules misp_modules/modules/expansion/cuckoo_submit.py: POST
    urljoin(api_url, "/tasks/create/file") (so the host's root, whatever path api_url has)
    with files, data {"owner": "MISP"} and {"Authorization": "Bearer <api_key>"}; 401 is
    "Invalid or no Cuckoo Sandbox API key provided", any other non-200 a failure; reads
    response["task_id"]."""

    def post_api(api_url: str, api_key: str, endpoint: str, **kwargs: Any) -> requests.Response:
        data = dict(kwargs.pop("data", {}))
        data.update({"owner": "MISP"})
        return requests.post(
            urllib.parse.urljoin(api_url, endpoint),
            data=data,
            headers={"Authorization": "Bearer {}".format(api_key)},  # noqa: UP032 - as MISP
            timeout=10,
            **kwargs,
        )

    live, service = server
    api_url = live.url + "/some/proxy/path/"
    answer = post_api(api_url, token, "/tasks/create/file", files={"file": ("a.sh", SAMPLE)})
    assert answer.status_code == 200
    task_id = answer.json()["task_id"]
    assert service.get_by_number(task_id) is not None
    assert re.fullmatch(r"Cuckoo task id: \d+", "Cuckoo task id: {}".format(task_id))  # noqa: UP032
    # Without a key ("Bearer "): 401, which MISP reports as a missing API key.
    assert (
        post_api(api_url, "", "/tasks/create/file", files={"file": ("a.sh", SAMPLE)}).status_code
        == 401
    )
    # Its URL submission: not 200, so "File or URL submission failed".
    assert (
        post_api(api_url, token, "/tasks/create/url", data={"url": "http://x.test/"}).status_code
        == 400
    )
    # A MISP with no key, from a listed network.
    open_live, open_service = open_server
    keyless = post_api(open_live.url, "", "/tasks/create/file", files={"file": ("b.sh", SAMPLE)})
    assert keyless.status_code == 200
    assert open_service.get_by_number(keyless.json()["task_id"]) is not None
