"""The service's S3 storage against a real S3 server: OpenStack Swift's s3api from Debian's
packages (``swift_server.py``; the session's server, from conftest's ``swift_s3``).

What moto cannot show truly is checked here: the service makes its bucket; a large artefact
goes up as a multipart upload (its ETag says so) and comes back whole, while the process's peak
memory grows by far less than the artefact's size, on the way in and on the way out, for a file
and for a results folder stored as a tar; and one task's whole life through the service (API
submission, sandbox worker, postprocess worker, reports and artefacts through the API,
deletion) with the storage on Swift. The behaviour tests of test_storage.py run on Swift too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from aasee.service.postprocess import PostprocessWorker
from aasee.service.storage import PART_SIZE, Storage
from aasee.service.worker import SandboxWorker
from aasee.web.app import create_app
from tests.api.raw_artefacts import basic_run, prepared_acquire

from .conftest import make_settings
from .swift_server import S3Endpoint

pytestmark = pytest.mark.servers

BIG = 64 << 20
# The most the peak RSS of the process may grow while moving a BIG artefact either way.
MEMORY_BOUND = 16 << 20
SAMPLE = b"#!/bin/sh\necho hello\n"

# Run in a child process, so its peak RSS (ru_maxrss) is that of the storage's work alone:
# imports, connections and transfer threads are warmed up by a small multipart round trip
# first, then the peak is read after each step with the BIG artefact.
MEASURE = r"""
import json, resource, sys
from pathlib import Path
from aasee.service.storage import Storage

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

url, folder = sys.argv[1], Path(sys.argv[2])
storage = Storage.from_url(url)
storage.put_file("tasks/warm/raw/warm.bin", folder / "warm.bin")
storage.download("tasks/warm/raw/warm.bin", folder / "warm.back")
peaks = {"start": peak()}
storage.put_file("tasks/big/sample.bin", folder / "big.bin")
peaks["put_file"] = peak()
storage.download("tasks/big/sample.bin", folder / "big.back")
peaks["download"] = peak()
storage.put_tree("tasks/big/raw", folder / "out")
peaks["put_tree"] = peak()
storage.get_tree("tasks/big/raw", folder / "back")
peaks["get_tree"] = peak()
print(json.dumps(peaks))
"""


def _use(endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in endpoint.environment().items():
        monkeypatch.setenv(name, value)


def _bucket() -> str:
    return f"aasee-{os.urandom(4).hex()}"


def _url(endpoint: S3Endpoint, bucket: str, prefix: str = "svc") -> str:
    return f"s3://{bucket}/{prefix}?endpoint_url={endpoint.url}&region={endpoint.region}"


def _bucket_exists(endpoint: S3Endpoint, bucket: str) -> bool:
    try:
        endpoint.client().head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_the_service_makes_its_bucket(
    swift_s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(swift_s3, monkeypatch)
    # By its first store: reads before it find nothing, as in a folder not yet made.
    first = _bucket()
    storage = Storage.from_url(_url(swift_s3, first))
    assert not storage.exists("tasks/a/sample.bin") and storage.keys("tasks/a") == []
    assert storage.delete_prefix("tasks/a") == 0
    assert not _bucket_exists(swift_s3, first)
    storage.put_bytes("tasks/a/sample.bin", b"sample")
    assert _bucket_exists(swift_s3, first)
    assert storage.get_bytes("tasks/a/sample.bin", 10) == b"sample"
    # Or by a health check (ping); a second process of the service finds it made.
    second = _bucket()
    Storage.from_url(_url(swift_s3, second)).ping()
    assert _bucket_exists(swift_s3, second)
    other = Storage.from_url(_url(swift_s3, second, "other"))
    other.ping()
    other.put_bytes("tasks/b/sample.bin", b"b")
    listing = swift_s3.client().list_objects_v2(Bucket=second)
    assert [item["Key"] for item in listing.get("Contents", [])] == ["other/tasks/b/sample.bin"]


def test_a_large_artefact_streams_as_multipart_in_bounded_memory(
    swift_s3: S3Endpoint, tmp_path: Path
) -> None:
    bucket = _bucket()
    _write_random(tmp_path / "warm.bin", 2 * PART_SIZE)
    big = tmp_path / "big.bin"
    _write_random(big, BIG)
    (tmp_path / "out" / "memory").mkdir(parents=True)
    os.link(big, tmp_path / "out" / "memory" / "core.bin")
    env = {**os.environ, **swift_s3.environment()}
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", MEASURE, _url(swift_s3, bucket), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    peaks = json.loads(child.stdout)
    growth = {step: peaks[step] - peaks["start"] for step in peaks}
    print(f"peak RSS growth (MB) over {time.monotonic() - started:.1f} s:", end=" ")
    print({step: round(value / (1 << 20), 1) for step, value in growth.items()})
    assert max(growth.values()) < MEMORY_BOUND, growth

    client = swift_s3.client()
    sizes = {}
    for key in ("svc/tasks/big/sample.bin", "svc/tasks/big/raw/memory.tar"):
        head = client.head_object(Bucket=bucket, Key=key)
        sizes[key] = size = head["ContentLength"]
        parts = -(-size // PART_SIZE)
        assert head["ETag"].strip('"').endswith(f"-{parts}"), (key, head["ETag"])
    assert sizes["svc/tasks/big/sample.bin"] == BIG
    assert sizes["svc/tasks/big/raw/memory.tar"] > BIG  # the file and its tar headers
    assert _sha256(tmp_path / "big.back") == _sha256(big)
    assert _sha256(tmp_path / "back" / "memory" / "core.bin") == _sha256(big)


def test_a_task_through_the_service_with_its_storage_on_swift(
    swift_s3: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(swift_s3, monkeypatch)
    bucket = _bucket()
    settings = make_settings(tmp_path, storage_url=_url(swift_s3, bucket, "aasee"))
    app = create_app(settings)
    s3 = swift_s3.client()

    def stored(task_id: str) -> set[str]:
        prefix = f"aasee/tasks/{task_id}/"
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {item["Key"][len(prefix) :] for item in listing.get("Contents", [])}

    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {app.state.web.service.create_token('tester')}"}
        answer = client.post(
            "/api/v1/tasks",
            headers=auth,
            files={"file": ("dropper.sh", SAMPLE)},
            data={"timeout": "10"},
        )
        assert answer.status_code == 201, answer.text
        task_id = answer.json()["id"]
        assert stored(task_id) == {"sample.bin"}  # in the bucket the submission made

        acquire = prepared_acquire(basic_run())
        worker = SandboxWorker(settings, name="test:1:sandbox-1", acquire=acquire)
        try:
            worker.run_one(task_id)
        finally:
            worker.db.dispose()
        raw = {name.removeprefix("raw/") for name in stored(task_id) if name.startswith("raw/")}
        assert {"trace.log", "run.json", "stdout.txt", "dropped.tar"} <= raw
        post = PostprocessWorker(settings, name="test:2:postprocess-1")
        try:
            assert post.run_one(task_id)
        finally:
            post.db.dispose()
        assert {"report.json", "report.html"} <= stored(task_id)

        task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
        assert task["status"] == "reported", task
        report = client.get(f"/api/v1/tasks/{task_id}/report", headers=auth)
        assert report.status_code == 200
        assert report.json()["sample"]["sha256"] == hashlib.sha256(SAMPLE).hexdigest()
        html = client.get(f"/api/v1/tasks/{task_id}/report.html", headers=auth)
        assert html.status_code == 200 and html.text.lstrip().lower().startswith("<!doctype")
        trace = client.get(f"/api/v1/tasks/{task_id}/artefacts/trace", headers=auth)
        key = f"aasee/tasks/{task_id}/raw/trace.log"
        assert trace.content == s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for name in ("dropped", "sample"):
            download = client.get(f"/api/v1/tasks/{task_id}/artefacts/{name}", headers=auth)
            assert download.status_code == 200 and download.content.startswith(b"PK"), name
        health = client.get("/api/v1/health", headers=auth).json()
        backend = f"s3://{bucket}/aasee at {swift_s3.url}"
        assert health["storage"] == {"ok": True, "backend": backend}

        assert client.delete(f"/api/v1/tasks/{task_id}", headers=auth).status_code == 204
        assert stored(task_id) == set()
