"""Storage: one interface, the same behaviour on a local folder and on S3: moto's emulator
(``moto``) and a real S3 server, OpenStack Swift's s3api (``swift``, marked ``servers``).
The S3 bucket is not made by the test: the storage makes it when it first stores (or pings).
test_s3_real.py has the tests only a real S3 server answers truly (multipart, memory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.service.storage import ObjectMissing, Storage, StorageError, backend_from_url, check_key

from .conftest import write_raw_results
from .swift_server import S3Endpoint


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "moto", pytest.param("swift", marks=pytest.mark.servers)])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Storage:
    if request.param == "local":
        return Storage.from_url(f"file://{tmp_path}/store")
    if request.param == "moto":
        endpoint = request.getfixturevalue("s3_endpoint")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    else:
        swift: S3Endpoint = request.getfixturevalue("swift_s3")
        endpoint = swift.url
        for name, value in swift.environment().items():
            monkeypatch.setenv(name, value)
    bucket = f"aasee-{os.urandom(4).hex()}"
    return Storage.from_url(f"s3://{bucket}/svc?endpoint_url={endpoint}&region=us-east-1")


def test_bytes_round_trip_and_listing(storage: Storage) -> None:
    storage.ping()
    storage.put_bytes("tasks/a/sample.bin", b"x" * 3_000_000)
    storage.put_bytes("tasks/a/raw/trace.log", b"trace")
    storage.put_bytes("tasks/b/sample.bin", b"other")
    assert storage.get_bytes("tasks/a/raw/trace.log", 100) == b"trace"
    assert b"".join(storage.chunks("tasks/a/sample.bin")) == b"x" * 3_000_000
    assert storage.keys("tasks/a") == ["tasks/a/raw/trace.log", "tasks/a/sample.bin"]
    assert storage.exists("tasks/b/sample.bin")
    with pytest.raises(StorageError, match="larger than"):
        storage.get_bytes("tasks/a/sample.bin", 10)


def test_missing_objects(storage: Storage) -> None:
    with pytest.raises(ObjectMissing):
        storage.get_bytes("tasks/none/sample.bin", 10)
    with pytest.raises(ObjectMissing):
        storage.chunks("tasks/none/report.json")
    assert not storage.exists("tasks/none/sample.bin")


def test_delete_prefix_removes_only_that_task(storage: Storage) -> None:
    storage.put_bytes("tasks/a/sample.bin", b"1")
    storage.put_bytes("tasks/a/raw/x.log", b"2")
    storage.put_bytes("tasks/ab/sample.bin", b"3")
    assert storage.delete_prefix("tasks/a") == 2
    assert storage.keys("tasks/a") == []
    assert storage.keys("tasks/ab") == ["tasks/ab/sample.bin"]


def test_tree_round_trip_keeps_folders_and_skips_hostile_entries(
    storage: Storage, tmp_path: Path
) -> None:
    source = tmp_path / "out"
    write_raw_results(source, b"sample")
    stored = storage.put_tree("tasks/t/raw", source, skip=frozenset({"sample.bin"}))
    assert "dropped.tar" in stored and "trace.log" in stored
    assert not {".hidden", "link", "sample.bin"} & set(stored)
    target = tmp_path / "back"
    storage.get_tree("tasks/t/raw", target)
    assert (target / "dropped" / "files" / "0001").read_bytes() == b"dropped payload"
    assert (target / "trace.log").read_bytes() == (source / "trace.log").read_bytes()
    assert not (target / "link").exists() and not (target / ".hidden").exists()
    members = dict(storage.tar_members("tasks/t/raw/dropped.tar"))
    assert members["files/0001"] == b"dropped payload"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "tasks/../etc",
        "tasks/./x",
        "tasks//x",
        "tasks/a b",
        "tasks/.hidden",
        "a/b/c/d/e/f/g/h/i",
    ],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        check_key(key)


def test_local_backend_never_leaves_its_folder(tmp_path: Path) -> None:
    storage = Storage.from_url(f"file://{tmp_path}/store")
    with pytest.raises(StorageError):
        storage.put_bytes("../escape", b"x")
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://host/folder", "local folder only"),
        ("s3:///prefix", "no bucket"),
        ("s3://bucket/p?colour=red", "unknown parameter"),
        ("gs://bucket", "use file:///folder"),
    ],
)
def test_bad_storage_urls(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        backend_from_url(url)


def test_unreachable_s3_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = Storage.from_url("s3://bucket?endpoint_url=http://127.0.0.1:1&region=us-east-1")
    with pytest.raises(StorageError, match="unreachable"):
        storage.ping()
