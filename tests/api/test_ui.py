"""The server-rendered UI over the real app: pages, forms, live-status hooks, escaping."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from aasee.service.facade import TaskService

from .conftest import Backend, hidden, login, submit
from .raw_artefacts import hostile_run

HOSTILE_NAME = "<img src=x onerror=alert(1)>.sh"
HOSTILE_ECHO = "<script>alert(2)</script>"
HOSTILE_DROP = '/tmp/"><svg onload=alert(3)>'


def _no_markup_from_sample(html: str) -> None:
    for raw in ("<img src=x", "<script>alert", "<svg onload", "<b>bold</b>"):
        assert raw not in html, f"unescaped {raw!r} in the page"


def test_pages_render_for_a_logged_in_user(client: TestClient, token: str) -> None:
    login(client, token)
    for path in ("/analyses", "/submit", "/api/docs"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "<script>" not in answer.text  # scripts come from /static files only
        assert "cdn" not in answer.text.lower()
    assert client.get("/", follow_redirects=False).headers["location"] == "/analyses"


def test_every_script_and_stylesheet_is_served_locally(client: TestClient, token: str) -> None:
    login(client, token)
    for path in ("/analyses", "/submit", "/api/docs", "/login"):
        html = client.get(path).text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_submit_form_creates_a_task_and_redirects(
    client: TestClient, token: str, auth: dict[str, str]
) -> None:
    csrf = login(client, token)
    answer = client.post(
        "/submit",
        files={"file": ("form.sh", b"echo from the form")},
        data={
            "csrf": csrf,
            "timeout": "15",
            "network": "none",
            "arg": ["-v", "", ""],
            "priority": "0",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    task_id = answer.headers["location"].rsplit("/", 1)[-1]
    task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
    assert task["options"]["arguments"] == ["-v"]  # blank argument boxes are dropped
    assert task["options"]["network"] == "none"
    page = client.get(answer.headers["location"])
    assert "form.sh" in page.text
    assert 'id="live"' in page.text and f'data-task-id="{task_id}"' in page.text


def test_submit_form_shows_errors_in_the_page(client: TestClient, token: str) -> None:
    csrf = login(client, token)
    answer = client.post(
        "/submit", files={"file": ("big.sh", b"x")}, data={"csrf": csrf, "timeout": "100000"}
    )
    assert answer.status_code == 422
    assert "exceeds this service" in answer.text
    assert 'id="submit-form"' in answer.text


def test_resubmitting_in_the_form_says_it_was_reused(client: TestClient, token: str) -> None:
    csrf = login(client, token)
    for _ in range(2):
        answer = client.post(
            "/submit",
            files={"file": ("same.sh", b"same")},
            data={"csrf": csrf},
            follow_redirects=False,
        )
    assert answer.headers["location"].endswith("?reused=1")
    assert "already analysed" in client.get(answer.headers["location"]).text


def test_list_filters_paging_and_poll_url(
    client: TestClient, token: str, auth: dict[str, str]
) -> None:
    for index in range(5):
        submit(client, auth, data=f"s{index}".encode(), filename=f"file{index}.sh")
    login(client, token)
    page = client.get("/analyses?limit=2")
    assert page.text.count('data-task-id="') == 2
    assert "Older" in page.text and "Newer" not in page.text
    assert 'data-poll-url="/api/v1/tasks?offset=0&amp;limit=2"' in page.text
    second = client.get("/analyses?limit=2&offset=2")
    assert "Newer" in second.text and "Older" in second.text
    filtered = client.get("/analyses?q=file3")
    assert filtered.text.count('data-task-id="') == 1 and "file3.sh" in filtered.text
    bad = client.get("/analyses?status=nonsense&since=notadate")
    assert bad.status_code == 200
    assert "unknown status" in bad.text and "not a date" in bad.text


def test_list_search_by_hash(client: TestClient, token: str, auth: dict[str, str]) -> None:
    task = submit(client, auth, data=b"hash me").json()
    submit(client, auth, data=b"other")
    login(client, token)
    page = client.get(f"/analyses?q={task['md5']}")
    assert page.text.count('data-task-id="') == 1
    assert f'data-poll-url="/api/v1/search?hash={task["md5"]}"' in page.text


def test_analysis_page_of_a_reported_task(
    client: TestClient, token: str, reported: dict[str, Any]
) -> None:
    login(client, token)
    page = client.get(f"/analyses/{reported['id']}")
    assert page.status_code == 200
    html = page.text
    for section in (
        "signatures",
        "attack",
        "processes",
        "files",
        "network",
        "static",
        "dropped",
        "output",
    ):
        assert f'id="{section}"' in html, section
    assert 'id="process-tree"' in html and "<details" in html
    assert f"/api/v1/tasks/{reported['id']}/artefacts/pcap" in html
    assert f"/api/v1/tasks/{reported['id']}/report.html" in html
    assert "hello from the sample" in html
    assert 'id="live"' in html and "hidden" in html.split('id="live"', 1)[1].split(">", 1)[0]


def test_failed_task_shows_its_reason(client: TestClient, token: str, auth: dict[str, str]) -> None:
    task = submit(client, auth, image="no-such-guest").json()
    login(client, token)
    html = client.get(f"/analyses/{task['id']}").text
    assert "is not available" in html


def test_unknown_analysis_is_an_html_404(client: TestClient, token: str) -> None:
    login(client, token)
    answer = client.get("/analyses/does-not-exist")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "does-not-exist" in answer.text


def test_reprocess_and_delete_buttons(
    client: TestClient, token: str, auth: dict[str, str], reported: dict[str, Any]
) -> None:
    csrf = login(client, token)
    task_id = reported["id"]
    redo = client.post(
        f"/analyses/{task_id}/reprocess", data={"csrf": csrf}, follow_redirects=False
    )
    assert redo.status_code == 303
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()["status"] == "postprocessing"
    gone = client.post(f"/analyses/{task_id}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 404


def test_hostile_strings_are_rendered_as_text(
    client: TestClient, token: str, auth: dict[str, str], backend: Backend, service: TaskService
) -> None:
    answer = client.post(
        "/api/v1/tasks",
        headers=auth,
        files={"file": (HOSTILE_NAME, f"#!/bin/sh\necho '{HOSTILE_ECHO}'\n".encode())},
    )
    task_id = answer.json()["id"]
    backend.report(task_id, hostile_run(HOSTILE_NAME, HOSTILE_ECHO, HOSTILE_DROP))
    login(client, token)
    listing = client.get("/analyses").text
    _no_markup_from_sample(listing)
    assert "&lt;img src=x onerror=alert(1)&gt;.sh" in listing
    page = client.get(f"/analyses/{task_id}").text
    _no_markup_from_sample(page)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page  # stdout and the process tree
    assert "&#34;&gt;&lt;svg onload=alert(3)&gt;" in page  # the dropped file's path
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_login_page_escapes_next(client: TestClient) -> None:
    page = client.get('/login?next=/"><script>alert(1)</script>')
    assert "<script>alert(1)" not in page.text
    assert hidden(page.text, "next")  # still a plain value
