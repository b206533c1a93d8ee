"""TaskService against a real database (SQLite and PostgreSQL), storage folder and SQLite
queue."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pyzipper
from sqlalchemy import select

from aasee.service import lifecycle
from aasee.service.facade import MAX_PAGE, SubmitOptions, TaskService, sanitize_filename
from aasee.service.models import Token
from aasee.service.settings import Settings

from .conftest import BACKENDS, backend_database_url, make_settings

SAMPLE = b"#!/bin/sh\necho hello\n"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Overrides conftest's: each test here that uses the database runs on SQLite and on
    PostgreSQL (its id names the backend)."""
    return backend_database_url(request, request.param)


def test_submit_stores_the_sample_and_queues_the_task(service: TaskService) -> None:
    view = service.submit(SAMPLE, "hello.sh", SubmitOptions(priority=3))
    assert view.status == "pending" and view.substatus == "queued" and not view.reused
    assert view.sha256 == hashlib.sha256(SAMPLE).hexdigest()
    assert view.md5 == hashlib.md5(SAMPLE).hexdigest()  # noqa: S324
    assert view.options.timeout == service.settings.default_timeout
    assert view.created.tzinfo is not None
    assert service.storage.get_bytes(f"tasks/{view.id}/sample.bin", 100) == SAMPLE
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == view.id
    assert service.get(view.id) == view


def test_same_sample_and_options_reuse_the_analysis_unless_forced(service: TaskService) -> None:
    first = service.submit(SAMPLE, "a.sh", SubmitOptions())
    again = service.submit(SAMPLE, "b.sh", SubmitOptions(priority=5))
    assert again.reused and again.id == first.id
    other = service.submit(SAMPLE, "a.sh", SubmitOptions(arguments=["-x"]))
    assert not other.reused and other.id != first.id
    forced = service.submit(SAMPLE, "a.sh", SubmitOptions(), force=True)
    assert not forced.reused and forced.id != first.id


def test_failed_analyses_are_not_reused(service: TaskService) -> None:
    first = service.submit(SAMPLE, "a.sh", SubmitOptions())
    lifecycle.fail(service.db, first.id, "sandbox failure")
    assert service.submit(SAMPLE, "a.sh", SubmitOptions()).id != first.id


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"x" * ((1 << 20) + 1), "exceeds the limit")],
)
def test_bad_uploads(service: TaskService, data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        service.submit(data, "x", SubmitOptions())
    assert service.list().total == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeout": 0}, "greater than 0"),
        ({"timeout": -1}, "greater than 0"),
        ({"network": "bridge"}, "network"),
        ({"priority": 11}, "less than or equal to 10"),
        ({"arguments": ["a"] * 33}, "at most 32"),
        ({"arguments": ["x" * 1025]}, "longer than 1024"),
        ({"arguments": ["a\0b"]}, "NUL"),
        ({"image": "../../etc/passwd"}, "pattern"),
        ({"user": "root; rm -rf /"}, "pattern"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_options_are_refused_clearly(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SubmitOptions.model_validate(fields)


def test_limits_that_depend_on_the_service(service: TaskService) -> None:
    with pytest.raises(ValueError, match="exceeds this service's maximum of 30"):
        service.submit(SAMPLE, "x", SubmitOptions(timeout=31))
    with pytest.raises(ValueError, match="'internet' is disabled"):
        service.submit(SAMPLE, "x", SubmitOptions(network="internet"))


def test_unknown_guest_image_fails_at_once_with_a_reason(service: TaskService) -> None:
    view = service.submit(SAMPLE, "x", SubmitOptions(image="windows-11-arm64"))
    assert view.status == "failed" and view.finished is not None
    assert view.reason is not None
    assert "guest image 'windows-11-arm64' is not available" in view.reason
    assert "debian-bookworm-amd64 (x86_64)" in view.reason
    assert service.queues.analysis("debian-bookworm-amd64").depth() == 0


def test_image_offered_by_a_live_remote_worker_is_accepted(service: TaskService) -> None:
    lifecycle.beat_worker(
        service.db, "remote:1:sandbox-1", "sandbox", "remote", 1, None, ["alpine-arm64:aarch64"]
    )
    assert service.submit(SAMPLE, "x", SubmitOptions(image="alpine-arm64")).status == "pending"


AARCH64_ELF = (b"\x7fELF\x02\x01\x01\x00" + b"\0" * 8 + b"\x02\x00\xb7\x00\x01\x00\x00\x00").ljust(
    64, b"\0"
) + b"bot"
RISCV_ELF = (b"\x7fELF\x02\x01\x01\x00" + b"\0" * 8 + b"\x02\x00\xf3\x00\x01\x00\x00\x00").ljust(
    64, b"\0"
)


def test_an_elf_sample_goes_to_a_worker_of_its_architecture(service: TaskService) -> None:
    refused = service.submit(AARCH64_ELF, "bot", SubmitOptions())
    assert refused.status == "failed" and refused.reason is not None
    assert "no aarch64 guest image" in refused.reason and "--arch aarch64" in refused.reason
    assert refused.sample_arch == "AArch64 64-bit little-endian"
    lifecycle.beat_worker(
        service.db, "pi:1:sandbox-1", "sandbox", "pi", 1, None, ["iot-aarch64:aarch64"]
    )
    view = service.submit(AARCH64_ELF, "bot", SubmitOptions(), force=True)
    assert view.status == "pending"
    assert view.options.image == "iot-aarch64" and view.arch == "aarch64"
    assert service.queues.analysis("iot-aarch64").dequeue(wait=1) == view.id
    assert service.queues.analysis("debian-bookworm-amd64").depth() == 0
    images = {item["name"]: item for item in service.images()}
    assert images["iot-aarch64"]["workers"] == ["pi:1:sandbox-1"]
    assert images["iot-aarch64"]["arch"] == "aarch64"


def test_a_sample_of_an_architecture_no_guest_runs_fails_at_once(service: TaskService) -> None:
    view = service.submit(RISCV_ELF, "riscv", SubmitOptions())
    assert view.status == "failed" and view.reason is not None
    assert "RISC-V 64-bit little-endian" in view.reason and "Guests available" in view.reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.exe", "evil.exe"),
        ("/abs/path/x.sh", "x.sh"),
        ("..", "sample"),
        ("", "sample"),
        (".bashrc", "bashrc"),
        ("a\x00b\nc\x1b[31m.sh", "abc[31m.sh"),
        ("é" * 300, "é" * 127),
        ("<script>alert(1)</script>.sh", "script>.sh"),
    ],
)
def test_filenames_are_sanitised(given: str, expected: str) -> None:
    assert sanitize_filename(given) == expected


def test_path_traversal_name_never_reaches_storage_paths(service: TaskService) -> None:
    view = service.submit(SAMPLE, "../../../../tmp/evil", SubmitOptions())
    assert view.filename == "evil"
    root = Path(service.settings.storage_url.removeprefix("file://"))
    stored = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert stored == [f"tasks/{view.id}/sample.bin"]


def test_list_filters_and_paging(service: TaskService) -> None:
    ids = [service.submit(b"s%d" % i, f"file-{i}.sh", SubmitOptions()).id for i in range(7)]
    page = service.list(offset=2, limit=3)
    assert page.total == 7 and page.offset == 2 and page.limit == 3
    assert [t.id for t in page.items] == list(reversed(ids))[2:5]
    assert service.list(limit=10_000).limit == MAX_PAGE
    assert service.list(name="file-3").total == 1
    assert service.list(name="%").total == 0  # a literal, not a wildcard
    lifecycle.fail(service.db, ids[0], "x")
    assert [t.id for t in service.list(status="failed").items] == [ids[0]]
    digest = hashlib.sha256(b"s4").hexdigest()
    assert [t.id for t in service.list(sha256=digest).items] == [ids[4]]
    now = datetime.now(UTC)
    assert service.list(since=now + timedelta(minutes=1)).total == 0
    assert service.list(until=now + timedelta(minutes=1)).total == 7
    assert service.list(verdict="malicious").total == 0
    for bad in (
        {"status": "done"},
        {"verdict": "evil"},
        {"limit": 0},
        {"offset": -1},
        {"sha256": "abc"},
        {"since": datetime(2020, 1, 1)},
    ):
        with pytest.raises(ValueError):
            service.list(**bad)  # type: ignore[arg-type]


def test_find_by_hash(service: TaskService) -> None:
    view = service.submit(SAMPLE, "x", SubmitOptions())
    for digest in (view.md5, view.sha1, view.sha256, view.sha256.upper()):
        assert [t.id for t in service.find_by_hash(digest)] == [view.id]
    assert service.find_by_hash("0" * 64) == []
    with pytest.raises(ValueError, match="MD5"):
        service.find_by_hash("1234")
    with pytest.raises(ValueError, match="hex"):
        service.find_by_hash("z" * 32)


def test_delete_removes_row_and_objects(service: TaskService) -> None:
    view = service.submit(SAMPLE, "x", SubmitOptions())
    service.storage.put_bytes(f"tasks/{view.id}/raw/trace.log", b"t")
    assert service.delete(view.id)
    assert service.get(view.id) is None
    assert service.storage.keys(f"tasks/{view.id}") == []
    assert not service.delete(view.id)
    assert not service.delete("../../etc")


def _finished_task(service: TaskService, tmp_path: Path) -> str:
    from .conftest import write_raw_results

    view = service.submit(SAMPLE, "hello world.sh", SubmitOptions())
    claim = lifecycle.claim_for_analysis(service.db, view.id, "w")
    assert claim is not None
    write_raw_results(tmp_path / "raw", SAMPLE)
    stored = service.storage.put_tree(f"tasks/{view.id}/raw", tmp_path / "raw")
    assert lifecycle.acquired(service.db, view.id, claim.run_id, stored)
    service.storage.put_bytes(f"tasks/{view.id}/report.json", b'{"verdict": null}')
    service.storage.put_bytes(f"tasks/{view.id}/report.html", b"<html></html>")
    assert lifecycle.claim_for_postprocess(service.db, view.id, "p") is not None
    assert lifecycle.reported(service.db, view.id, "p", None, 0.0)
    return view.id


def test_reports_and_artefacts(service: TaskService, tmp_path: Path) -> None:
    task_id = _finished_task(service, tmp_path)
    assert service.report(task_id, "json") == b'{"verdict": null}'
    assert service.report(task_id, "html") == b"<html></html>"
    assert service.report("nope", "json") is None
    view = service.get(task_id)
    assert view is not None and {"trace", "stdout", "dropped", "sample", "log"} <= set(
        view.artefacts
    )
    found = service.artefact(task_id, "trace")
    assert found is not None
    name, chunks = found
    assert name == f"{task_id[:8]}-trace.log"
    assert b"".join(chunks) == (tmp_path / "raw" / "trace.log").read_bytes()
    assert service.artefact(task_id, "pcap") is None  # not produced by this run
    with pytest.raises(ValueError, match="unknown artefact"):
        service.artefact(task_id, "../../etc/passwd")


@pytest.mark.parametrize("kind", ["dropped", "sample"])
def test_zips_are_encrypted_with_the_password(
    service: TaskService, tmp_path: Path, kind: str
) -> None:
    task_id = _finished_task(service, tmp_path)
    found = service.artefact(task_id, kind)
    assert found is not None
    name, chunks = found
    assert name == f"{task_id[:8]}-{kind}.zip"
    data = io.BytesIO(b"".join(chunks))
    with pyzipper.AESZipFile(data) as archive:
        with pytest.raises(RuntimeError):
            archive.read(archive.namelist()[0])  # no password: refused
        archive.setpassword(service.settings.zip_password.encode())
        if kind == "sample":
            assert archive.namelist() == ["hello world.sh"]
            assert archive.read("hello world.sh") == SAMPLE
        else:
            assert archive.read("files/0001") == b"dropped payload"
            assert "manifest.json" in archive.namelist()
        assert all(info.flag_bits & 0x1 for info in archive.infolist())  # encrypted


def test_tokens(service: TaskService, settings: Settings) -> None:
    secret = service.create_token("alice")
    assert service.verify_token(secret) == "alice"
    assert service.verify_token(secret + "x") is None
    assert service.verify_token("") is None
    assert service.verify_token("a" * 10_000) is None
    with pytest.raises(ValueError, match="exists"):
        service.create_token("alice")
    with pytest.raises(ValueError, match="not allowed"):
        service.create_token("../bob")
    with service.db.read() as session:
        row = session.scalar(select(Token).where(Token.name == "alice"))
        assert row is not None and secret not in row.digest
        assert row.digest == hashlib.sha256(secret.encode()).hexdigest()
    [listed] = service.list_tokens()
    assert listed["name"] == "alice" and listed["last_used"] is not None
    other = TaskService(settings)  # another process's view of the same database
    assert other.verify_token(secret) == "alice"
    other.close()
    assert service.revoke_token("alice")
    assert not service.revoke_token("alice")
    assert service.verify_token(secret) is None


def test_health_and_metrics(service: TaskService) -> None:
    health = service.health()
    assert health["database"]["ok"] and health["queue"]["ok"] and health["storage"]["ok"]
    assert health["status"] == "degraded"  # no worker alive
    lifecycle.beat_worker(service.db, "h:1:sandbox-1", "sandbox", "h", 1, None, [])
    health = service.health()
    assert health["status"] == "ok" and health["workers_alive"]["sandbox"] == 1
    service.submit(SAMPLE, "x", SubmitOptions())
    metrics = service.metrics()
    assert metrics["tasks"]["pending"] == 1 and metrics["total"] == 1
    assert metrics["queue_depth"]["analysis"] == 1


def test_health_reports_a_broken_storage(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, storage_url="file:///proc/aasee-not-writable")
    service = TaskService(settings)
    health = service.health()
    assert not health["storage"]["ok"] and health["status"] == "degraded"
    service.close()
