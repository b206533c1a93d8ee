"""Fixtures of the service tests: real SQLite files, a real storage folder and a real huey
SQLite queue, all in a temporary directory; a guest image's metadata so submissions are
accepted (no VM is booted by these tests); and, for the tests that ask for them, a real
redis-server, a real PostgreSQL server and a real S3 server (OpenStack Swift) of the session
(``servers.py``), which fail the test when they cannot run (``make install`` installs them)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.processing.run_meta import RunMeta, write_run_meta
from aasee.service.facade import TaskService
from aasee.service.settings import Settings

from .servers import PostgresServer, ServerUnavailable, postgres_server, redis_server, s3_server
from .swift_server import S3Endpoint

IMAGE = "debian-bookworm-amd64"
TRACE = Path(__file__).parents[1] / "data" / "trace-basic.log"


def write_image_metadata(home: Path, name: str = IMAGE, arch: str = "x86_64") -> None:
    """What `aasee image build` leaves in {home}/images/NAME.json (the disk files are not
    needed to accept a submission)."""
    images = home / "images"
    images.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": name,
        "arch": arch,
        "os": "debian",
        "kernel_release": "6.1.0",
        "cmdline": "console=ttyS0",
        "disk": str(images / f"{name}.qcow2"),
        "kernel": str(images / f"{name}.vmlinuz"),
        "initrd": str(images / f"{name}.initrd"),
        "agent_version": "1",
        "inputs_key": "test",
        "built_at": "2025-01-01T00:00:00Z",
    }
    (images / f"{name}.json").write_text(json.dumps(meta))


def make_settings(root: Path, **fields: object) -> Settings:
    home = root / "home"
    write_image_metadata(home)
    values: dict[str, object] = {
        "home": home,
        "heartbeat_seconds": 0.2,
        "stale_after_seconds": 2.0,
        "default_timeout": 5,
        "max_timeout": 30,
        "max_upload_bytes": 1 << 20,
    }
    values.update(fields)
    return Settings.model_validate(values)


BACKENDS = ("sqlite", "postgresql")


def backend_database_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """The database of one test on ``backend``: None for the embedded SQLite one (made in the
    test's home on first use), a fresh migrated database of the session's PostgreSQL server."""
    if backend == "sqlite":
        return None
    assert backend == "postgresql", backend
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.migrated_database()


@pytest.fixture
def database_url() -> str | None:
    """The database of the ``settings`` fixture: the embedded SQLite one. The modules whose
    tests run on both backends override this fixture with one parametrized over
    ``BACKENDS`` (each test id then names its backend); test_postgresql.py with PostgreSQL."""
    return None


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    if database_url is None:
        return make_settings(tmp_path)
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def service(settings: Settings) -> Iterator[TaskService]:
    svc = TaskService(settings)
    yield svc
    svc.close()


def write_raw_results(out_dir: Path, sample: bytes, name: str = "sample.sh") -> None:
    """A results directory as an acquisition leaves it: run.json, a real trace, outputs, a
    dropped/ folder, and odd entries a guest could cause (they must not be stored)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_run_meta(RunMeta(analysis_id="run", sample_name=name, timeout=5.0), out_dir)
    shutil.copy(TRACE, out_dir / "trace.log")
    (out_dir / "stdout.txt").write_text("hello\n")
    (out_dir / "stderr.txt").write_text("")
    (out_dir / "console.log").write_text("boot\n")
    (out_dir / "analysis.log").write_text("log\n")
    (out_dir / "sample.bin").write_bytes(sample)
    dropped = out_dir / "dropped"
    (dropped / "files").mkdir(parents=True)
    (dropped / "files" / "0001").write_bytes(b"dropped payload")
    (dropped / "manifest.json").write_text(json.dumps({"files": []}))
    (out_dir / ".hidden").write_text("not stored")
    (out_dir / "link").symlink_to("/etc/passwd")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a unix socket in a temporary directory."""
    try:
        with redis_server(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except ServerUnavailable as exc:
        pytest.fail(f"Redis is needed by these tests: {exc}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of this test session (unix socket only); its session time zone
    is not UTC, so a time stored or compared without its zone would show."""
    try:
        with postgres_server(timezone="America/New_York") as server:
            yield server
    except ServerUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed by these tests: {exc}")


@pytest.fixture(scope="session")
def swift_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A real S3 server of this session: OpenStack Swift's s3api (Debian's packages) on free
    loopback ports; each test uses buckets of its own."""
    try:
        with s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
            yield endpoint
    except ServerUnavailable as exc:
        pytest.fail(f"Swift (S3) is needed by these tests: {exc}")
