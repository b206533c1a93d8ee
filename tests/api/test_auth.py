"""Authentication on every route: bearer tokens for the API, sessions for the UI, CSRF."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService
from aasee.web.sessions import SESSION_COOKIE

from .conftest import hidden, login, submit

API_ROUTES = [
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/search?hash=" + "a" * 64),
    ("GET", "/api/v1/tasks/some-id"),
    ("GET", "/api/v1/tasks/some-id/report"),
    ("GET", "/api/v1/tasks/some-id/report.html"),
    ("GET", "/api/v1/tasks/some-id/artefacts/pcap"),
    ("DELETE", "/api/v1/tasks/some-id"),
    ("POST", "/api/v1/tasks/some-id/reprocess"),
    ("GET", "/api/v1/images"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/metrics"),
    ("GET", "/api/openapi.json"),
]
UI_PAGES = ["/", "/analyses", "/submit", "/analyses/some-id", "/api/docs"]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_api_without_token_is_401(client: TestClient, method: str, path: str) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "aasee token create" in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_api_with_wrong_token_is_401(
    client: TestClient, token: str, method: str, path: str
) -> None:
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = client.request(method, path, headers={"Authorization": f"Bearer {wrong}"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the token is invalid or has been revoked"


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer " + "x" * 600, "Bearer a b"],
)
def test_malformed_authorization_is_401(client: TestClient, header: str) -> None:
    answer = client.get("/api/v1/tasks", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.json()["detail"]


def test_revoked_token_stops_working(
    client: TestClient, service: TaskService, token: str, auth: dict[str, str]
) -> None:
    assert client.get("/api/v1/tasks", headers=auth).status_code == 200
    assert service.revoke_token("tester")
    answer = client.get("/api/v1/tasks", headers=auth)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]


def test_token_name_is_not_a_token(client: TestClient, token: str) -> None:
    assert (
        client.get("/api/v1/tasks", headers={"Authorization": "Bearer tester"}).status_code == 401
    )


@pytest.mark.parametrize("path", UI_PAGES)
def test_ui_pages_redirect_to_login(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_static_files_and_login_need_no_session(client: TestClient) -> None:
    assert client.get("/login").status_code == 200
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/swagger/index.html").status_code == 404


def test_login_with_wrong_token_is_refused(client: TestClient, token: str) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"token": "aasee_nope", "csrf": hidden(page.text, "csrf")},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert "not valid" in answer.text
    assert SESSION_COOKIE not in answer.cookies


def test_login_needs_its_csrf_value(client: TestClient, token: str) -> None:
    client.get("/login")
    answer = client.post("/login", data={"token": token, "csrf": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.cookies


def test_login_sets_a_strict_httponly_session_cookie(client: TestClient, token: str) -> None:
    page = client.get("/login?next=/submit")
    answer = client.post(
        "/login",
        data={"token": token, "csrf": hidden(page.text, "csrf"), "next": "/submit"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/submit"
    cookie = next(
        v
        for k, v in answer.headers.multi_items()
        if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert token not in cookie  # the session never carries the token itself


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client: TestClient, token: str, target: str) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"token": token, "csrf": hidden(page.text, "csrf"), "next": target},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/analyses"


def test_forged_session_cookie_is_ignored(client: TestClient, token: str) -> None:
    login(client, token)
    genuine = client.cookies[SESSION_COOKIE]
    body, _, mac = genuine.partition(".")
    client.cookies.set(SESSION_COOKIE, body + "." + mac[::-1])
    assert client.get("/analyses", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/tasks").status_code == 401


def test_session_dies_when_its_token_is_revoked(
    client: TestClient, service: TaskService, token: str
) -> None:
    login(client, token)
    assert client.get("/analyses").status_code == 200
    assert client.get("/api/v1/tasks").status_code == 200  # the pages' scripts use the session
    service.revoke_token("tester")
    service.create_token("tester")  # same name, another token: the old session stays dead
    assert client.get("/analyses", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/tasks").status_code == 401


def test_session_api_changes_need_the_csrf_header(
    client: TestClient, token: str, auth: dict[str, str]
) -> None:
    task_id = submit(client, auth).json()["id"]
    csrf = login(client, token)
    assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 403
    assert (
        client.delete(f"/api/v1/tasks/{task_id}", headers={"X-CSRF-Token": "nope"}).status_code
        == 403
    )
    assert (
        client.delete(f"/api/v1/tasks/{task_id}", headers={"X-CSRF-Token": csrf}).status_code == 204
    )


def test_ui_forms_need_the_csrf_value(client: TestClient, token: str, auth: dict[str, str]) -> None:
    task_id = submit(client, auth).json()["id"]
    csrf = login(client, token)
    refused = client.post(f"/analyses/{task_id}/delete", data={"csrf": "stale"})
    assert refused.status_code == 403
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 200
    upload = client.post("/submit", files={"file": ("a.sh", b"echo")}, data={"csrf": "stale"})
    assert upload.status_code == 403
    assert client.get("/api/v1/tasks", headers=auth).json()["total"] == 1
    accepted = client.post(
        f"/analyses/{task_id}/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert accepted.status_code == 303
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 404


def test_logout_ends_the_session(client: TestClient, token: str) -> None:
    csrf = login(client, token)
    answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/analyses", follow_redirects=False).status_code == 303


def test_secret_is_kept_private_in_the_home(app: FastAPI) -> None:
    secret = app.state.web.settings.service_dir / "web.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_bytes()) >= 32
