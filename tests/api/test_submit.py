"""Submitting samples through the API: options, reuse, and every kind of bad upload."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aasee.service.facade import TaskService

from .conftest import IMAGE, SAMPLE, UPLOAD_LIMIT, submit


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _raw(client: TestClient, auth: dict[str, str], body: bytes, ctype: str | None = None) -> Any:
    headers = {**auth, "Content-Type": ctype or "multipart/form-data; boundary=XyZ"}
    return client.post("/api/v1/tasks", headers=headers, content=body)


def test_submit_queues_a_task(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(
        client,
        auth,
        filename="dropper.sh",
        timeout="42",
        network="isolated",
        arguments=["--flag", "two words"],
        image=IMAGE,
        priority="5",
        user="nobody",
        memory_mib="768",
        revert="cold",
        time_warp="false",
    )
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert answer.headers["location"] == f"/api/v1/tasks/{task['id']}"
    assert task["status"] == "pending"
    assert task["filename"] == "dropper.sh"
    assert task["sha256"] == hashlib.sha256(SAMPLE).hexdigest()
    assert task["md5"] == hashlib.md5(SAMPLE).hexdigest()  # noqa: S324
    assert task["size"] == len(SAMPLE)
    assert task["reused"] is False
    assert task["options"] == {
        "timeout": 42.0,
        "network": "isolated",
        "arguments": ["--flag", "two words"],
        "image": IMAGE,
        "priority": 5,
        "user": "nobody",
        "sandbox": "qemu",
        "accel": "auto",
        "memory_mib": 768,
        "vcpus": 1,
        "revert": "cold",
        "time_warp": False,
        "stop_on_exit": False,
        "full_timeout": False,
        "raw_syscalls": True,
        "boot_timeout": 180.0,
        "display": False,
    }
    assert task["arch"] == "x86_64"
    assert task["sample_arch"] == "script or data (no ELF header)"


def test_the_guest_is_chosen_by_the_sample_header(client: TestClient, auth: dict[str, str]) -> None:
    """No image asked for: a script goes to the x86-64 guest, recorded in the options."""
    task = submit(client, auth).json()
    assert task["options"]["image"] == IMAGE and task["arch"] == "x86_64"


def test_default_options(client: TestClient, auth: dict[str, str]) -> None:
    options = submit(client, auth).json()["options"]
    assert options["timeout"] == 60.0
    assert options["network"] == "fake"
    assert options["arguments"] == []


def test_same_sample_and_options_reuse_the_analysis(
    client: TestClient, auth: dict[str, str]
) -> None:
    first = submit(client, auth, timeout="30")
    again = submit(client, auth, filename="renamed.sh", timeout="30")
    assert again.status_code == 200
    assert again.json()["reused"] is True
    assert again.json()["id"] == first.json()["id"]
    other_options = submit(client, auth, timeout="31")
    assert other_options.status_code == 201
    assert other_options.json()["id"] != first.json()["id"]


def test_force_analyses_again(client: TestClient, auth: dict[str, str]) -> None:
    first = submit(client, auth).json()
    forced = submit(client, auth, force="true")
    assert forced.status_code == 201
    assert forced.json()["id"] != first["id"]
    assert client.get("/api/v1/tasks", headers=auth).json()["total"] == 2


def test_unknown_image_fails_at_once_with_a_reason(
    client: TestClient, auth: dict[str, str]
) -> None:
    task = submit(client, auth, image="windows-11-amd64").json()
    assert task["status"] == "failed"
    assert "windows-11-amd64" in task["reason"]
    assert "aasee image build" in task["reason"]


def test_empty_file_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(client, auth, data=b"")
    assert answer.status_code == 400
    assert "empty" in answer.json()["detail"]


def test_oversized_upload_is_413(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(client, auth, data=b"A" * (UPLOAD_LIMIT + 1))
    assert answer.status_code == 413
    assert str(UPLOAD_LIMIT) in answer.json()["detail"]
    assert client.get("/api/v1/tasks", headers=auth).json()["total"] == 0


def test_exactly_the_limit_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    assert submit(client, auth, data=b"B" * UPLOAD_LIMIT).status_code == 201


def test_declared_oversized_length_is_refused_before_reading(
    client: TestClient, auth: dict[str, str]
) -> None:
    headers = {
        **auth,
        "Content-Type": "multipart/form-data; boundary=XyZ",
        "Content-Length": str(UPLOAD_LIMIT * 100),
    }
    answer = client.post("/api/v1/tasks", headers=headers, content=b"x" * 10)
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"plain text", "text/plain", 415, "multipart/form-data"),
        (b"{}", "application/json", 415, "multipart/form-data"),
        (b"--XyZ\r\n", "multipart/form-data", 400, "boundary"),
        (b"garbage without any boundary", None, 400, "malformed"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
            None,
            400,
            "closing boundary",
        ),
        (
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--\r\n",
            None,
            400,
            "Content-Disposition",
        ),
        (
            b'--XyZ\r\nContent-Disposition: attachment; filename="a"\r\n\r\nabc\r\n--XyZ--\r\n',
            None,
            400,
            "form-data",
        ),
    ],
)
def test_malformed_multipart_is_400(
    client: TestClient,
    auth: dict[str, str],
    body: bytes,
    ctype: str | None,
    status: int,
    words: str,
) -> None:
    answer = _raw(client, auth, body, ctype)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_no_file_part_is_400(client: TestClient, auth: dict[str, str]) -> None:
    answer = _raw(client, auth, _multipart([("timeout", None, b"10")]))
    assert answer.status_code == 400
    assert "'file'" in answer.json()["detail"]


def test_two_files_are_400(client: TestClient, auth: dict[str, str]) -> None:
    body = _multipart([("file", "a", b"one"), ("file", "b", b"two")])
    answer = _raw(client, auth, body)
    assert answer.status_code == 400
    assert "exactly one file" in answer.json()["detail"]


def test_file_under_another_field_name_is_400(client: TestClient, auth: dict[str, str]) -> None:
    answer = _raw(client, auth, _multipart([("sample", "a", b"one")]))
    assert answer.status_code == 400


def test_too_many_fields_and_huge_fields_are_400(client: TestClient, auth: dict[str, str]) -> None:
    many = _multipart([("file", "a", b"x")] + [("arguments", None, b"a")] * 100)
    assert _raw(client, auth, many).status_code == 400
    huge = _multipart([("file", "a", b"x"), ("timeout", None, b"1" * 20000)])
    assert _raw(client, auth, huge).status_code == 400


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"timeout": "9999"}, "exceeds this service's maximum"),
        ({"timeout": "-1"}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"network": "wide-open"}, "network"),
        ({"network": "internet"}, "disabled"),
        ({"priority": "99"}, "priority"),
        ({"image": "../../etc"}, "image"),
        ({"user": "root; rm -rf /"}, "user"),
        ({"force": "perhaps"}, "force"),
        ({"colour": "blue"}, "unknown form field"),
        ({"timeout": ["1", "2"]}, "once"),
        ({"arguments": ["a\x00b"]}, "NUL"),
    ],
)
def test_bad_options_are_422_with_the_field(
    client: TestClient, auth: dict[str, str], fields: dict[str, Any], words: str
) -> None:
    answer = submit(client, auth, **fields)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]


def test_non_utf8_field_is_400(client: TestClient, auth: dict[str, str]) -> None:
    body = _multipart([("file", "a", b"x"), ("user", None, b"\xff\xfe")])
    answer = _raw(client, auth, body)
    assert answer.status_code == 400
    assert "UTF-8" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.exe", "x.exe"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("/abs/path/tool", "tool"),
        ("..", "sample"),
        ("", "sample"),
        (".hidden", "hidden"),
    ],
)
def test_path_traversal_names_become_a_plain_name(
    client: TestClient, auth: dict[str, str], service: TaskService, given: str, stored: str
) -> None:
    answer = _raw(client, auth, _multipart([("file", given, b"data of " + given.encode())]))
    assert answer.status_code == 201, answer.text
    assert answer.json()["filename"] == stored
    # The sample is stored by task id: nothing anywhere was written under the given name.
    assert not list(service.settings.home.parent.rglob(stored))


def test_names_with_nul_newlines_and_html_are_stored_as_text(
    client: TestClient, auth: dict[str, str]
) -> None:
    nasty = 'a\x00b\nc\r\nd<img src=x onerror=alert(1)>".sh'
    answer = client.post("/api/v1/tasks", headers=auth, files={"file": (nasty, b"echo nasty")})
    assert answer.status_code == 201, answer.text
    name = answer.json()["filename"]
    assert "\x00" not in name and "\n" not in name and "\r" not in name
    assert "<img src=x onerror=alert(1)>" in name  # kept as data; escaped when rendered


def test_utf8_name_is_kept(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(client, auth, filename="échantillon-样本.sh")
    assert answer.json()["filename"] == "échantillon-样本.sh"


def test_overlong_name_is_bounded(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(client, auth, filename="n" * 5000)
    assert answer.status_code == 201
    assert len(answer.json()["filename"].encode()) <= 255


def test_absurd_part_header_is_400(client: TestClient, auth: dict[str, str]) -> None:
    answer = submit(client, auth, filename="n" * 20000)
    assert answer.status_code == 400
    assert "header" in answer.json()["detail"]
