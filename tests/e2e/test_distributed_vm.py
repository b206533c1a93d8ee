"""The service as separate daemons on shared URLs: `aasee web`, `aasee worker` and
`aasee postprocess` run as their own process trees, all pointed at ONE PostgreSQL database,
ONE Redis queue and ONE S3 bucket (real servers, started here), and together turn two REST
submissions into reports, with every object in the bucket and every row in PostgreSQL.

Run it under the VM lock: ``flock /tmp/aasee-vm.lock .venv/bin/pytest -q
tests/e2e/test_distributed_vm.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import dpkt
import httpx
import pytest
import redis
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.contexts.network import list_sandbox_namespaces
from aasee.images.store import GuestImage, aasee_home
from aasee.service.models import Task, Token, WorkerHeartbeat
from aasee.service.queue import Queues
from tests.service.servers import postgres_server, redis_server, s3_server
from tests.service.swift_server import ACCESS_KEY, SECRET_KEY

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.vm
# The queue the samples of these tests (scripts) are routed to.
DEFAULT_IMAGE = get_profile(DEFAULT_ARCH).default_image
ROOT = Path(__file__).resolve().parents[2]
AASEE = ROOT / ".venv" / "bin" / "aasee"
BUCKET = "aasee-distributed"
REGION = "us-east-1"
SAMPLES = 2
STOP_SECONDS = 60
# The S3 server's (Swift's tempauth) user; the daemons get these through the usual AWS
# environment variables.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Shared:
    """The three URLs every daemon is given, and the settings file that holds them."""

    database_url: str
    queue_url: str
    storage_url: str
    s3_endpoint: str
    config: Path
    env: dict[str, str]


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Shared]:
    """A throwaway PostgreSQL, redis-server and S3 server (Swift), and a settings file naming
    them; the host's guest images and snapshots (``home``), everything else temporary."""
    with (
        postgres_server() as postgres,
        redis_server(tmp_path) as queue_url,
        s3_server(tmp_path) as s3,
    ):
        endpoint = s3.url
        _s3(endpoint).create_bucket(Bucket=BUCKET)
        database_url = postgres.empty_database()
        storage_url = f"s3://{BUCKET}/aasee?endpoint_url={endpoint}&region={REGION}"
        config = tmp_path / "aasee.toml"
        config.write_text(
            f'home = "{aasee_home()}"\n'
            f'database_url = "{database_url}"\n'
            f'queue_url = "{queue_url}"\n'
            f'storage_url = "{storage_url}"\n'
            f'scratch_dir = "{tmp_path}/scratch"\n'
            "heartbeat_seconds = 2\n"
            "stale_after_seconds = 30\n"
            "default_timeout = 5\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AASEE_", "AWS_"))}
        env.update(CREDENTIALS, AASEE_CONFIG=str(config), PYTHONUNBUFFERED="1")
        yield Shared(database_url, queue_url, storage_url, endpoint, config, env)


def _s3(endpoint: str) -> S3Client:
    """A client of the test's S3 API, for the test's own checks."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _aasee(shared: Shared, *args: str) -> str:
    """One `aasee` command to completion; its standard output."""
    done = subprocess.run(
        [str(AASEE), *args], env=shared.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"aasee {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def daemons(shared: Shared, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`aasee web`, `aasee worker --count 1` and `aasee postprocess` as three separate process
    trees on the shared URLs; all stopped (SIGTERM, then SIGKILL) however the test ends."""
    _aasee(shared, "db", "upgrade")
    port = _free_port()
    commands = {
        "web": ["web", "--port", str(port)],
        "worker": ["worker", "--count", "1"],
        "postprocess": ["postprocess"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    try:
        for name, args in commands.items():
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    [str(AASEE), *args, "--config", str(shared.config)],
                    env=shared.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path,
                )
        yield {"url": f"http://127.0.0.1:{port}", "processes": processes}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            code: int | None
            try:
                code = process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            # Shown by pytest when the test fails: what each daemon said.
            print(f"--- {name} (exit {code}) ---\n{logs[name].read_text()[-8000:]}")


def test_web_worker_and_postprocess_daemons_share_postgres_redis_and_s3(
    guest_image: GuestImage,
    ready_snapshot: object,
    no_leftovers: None,
    shared: Shared,
    daemons: dict[str, Any],
) -> None:
    namespaces_before = set(list_sandbox_namespaces())
    token = _aasee(shared, "token", "create", "distributed").strip().splitlines()[-1]
    assert token.startswith("aasee_")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=daemons["url"], headers=headers, timeout=30) as api:

        def workers_alive() -> Any:
            try:
                health = api.get("/api/v1/health")
            except httpx.TransportError:
                return None  # the web daemon is still starting
            alive = health.json().get("workers_alive") if health.status_code == 200 else None
            return alive == {"sandbox": 1, "postprocess": 1} and health.json()

        health = _wait(workers_alive, 60, "the web daemon and both kinds of worker")
        assert health["queue"]["ok"] and health["storage"]["backend"].startswith(
            f"s3://{BUCKET}/aasee"
        )
        # Three supervisors, each with its own children: the workers are two more processes.
        worker_pids = {w["pid"] for w in health["workers"]}
        daemon_pids = {p.pid for p in daemons["processes"].values()}
        assert len(worker_pids) == 2 and not worker_pids & daemon_pids

        samples = [
            f"#!/bin/sh\nbusybox wget -q -O /dev/null http://distributed-{i}.example/ ; "
            f"echo sample {i}\n".encode()
            for i in range(SAMPLES)
        ]
        ids = []
        for i, sample in enumerate(samples):
            created = api.post(
                "/api/v1/tasks",
                files={"file": (f"sample-{i}.sh", sample, "application/octet-stream")},
                data={"timeout": "5"},
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        def finished() -> Any:
            views = [api.get(f"/api/v1/tasks/{task_id}").json() for task_id in ids]
            done = all(v["status"] in ("reported", "failed") for v in views)
            return done and views

        views = _wait(finished, 150, "both tasks to be reported")
        assert [v["status"] for v in views] == ["reported"] * SAMPLES, views
        for i, task_id in enumerate(ids):
            report = api.get(f"/api/v1/tasks/{task_id}/report")
            assert report.status_code == 200
            assert report.json()["sample"]["sha256"] == hashlib.sha256(samples[i]).hexdigest()
            pcap = api.get(f"/api/v1/tasks/{task_id}/artefacts/pcap")
            assert pcap.status_code == 200
            packets = list(dpkt.pcap.Reader(io.BytesIO(pcap.content)))
            assert packets, "the pcap holds no packet"
            assert f"distributed-{i}".encode() in pcap.content  # this run's DNS query

    # Every object is in the one bucket, nothing in the host's default storage folder.
    listing = _s3(shared.s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix="aasee/tasks/")
    keys = {item["Key"] for item in listing.get("Contents", [])}
    for task_id in ids:
        prefix = f"aasee/tasks/{task_id}"
        expected = {"sample.bin", "raw/network.pcap", "raw/run.json", "report.json"}
        assert {f"{prefix}/{name}" for name in expected} <= keys
        assert not (aasee_home() / "service" / "storage" / "tasks" / task_id).exists()

    # Every row is in the one PostgreSQL database.
    engine = create_engine(shared.database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Task.id, Task.status, Task.attempts, Task.worker).where(Task.id.in_(ids))
            ).all()
            assert sorted((r.id, r.status, r.attempts, r.worker) for r in rows) == sorted(
                (task_id, "reported", 1, None) for task_id in ids
            )
            assert connection.execute(select(Token.name)).scalars().all() == ["distributed"]
            kinds = connection.execute(select(WorkerHeartbeat.kind)).scalars().all()
            assert sorted(kinds) == ["postprocess", "sandbox"]
    finally:
        engine.dispose()

    # Both queues went through the one redis-server, and are empty now.
    server = redis.Redis.from_url(shared.queue_url)
    try:
        calls = server.info("commandstats").get("cmdstat_zadd", {}).get("calls", 0)
        assert calls >= 2 * SAMPLES  # one analysis and one postprocess message per task
    finally:
        server.close()
    queues = Queues(shared.queue_url)
    assert (queues.analysis(DEFAULT_IMAGE).depth(), queues.postprocess.depth()) == (0, 0)

    for process in daemons["processes"].values():
        process.send_signal(signal.SIGTERM)
    for name, process in daemons["processes"].items():
        assert process.wait(STOP_SECONDS) == 0, f"{name} did not stop cleanly"
    assert set(list_sandbox_namespaces()) <= namespaces_before
    engine = create_engine(shared.database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            # Stopped workers say goodbye: no stale worker rows for the reapers to chase.
            assert connection.execute(select(WorkerHeartbeat.name)).all() == []
    finally:
        engine.dispose()
