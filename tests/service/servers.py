"""Throwaway real servers for tests: PostgreSQL, Redis and S3 (OpenStack Swift's S3 API), each
started in a temporary folder, reachable only from this host, and stopped and removed on the
way out.

``postgres_server()`` runs ``initdb`` and ``postgres`` from the Debian package ``postgresql``
(as the ``postgres`` system user when the tests run as root, because PostgreSQL refuses to run
as root), listening only on a unix socket in its folder. It yields a ``PostgresServer`` that
hands out fresh databases: empty ones (``empty_database``) for migration tests, and copies of
a migrated template (``migrated_database``) that cost a file copy instead of a migration.

``redis_instance()`` yields a ``RedisServer`` that can also listen on TCP and be restarted
(the distributed test restarts it mid-run).

``s3_server()`` is Swift with ``s3api`` from Debian's packages (``swift_server.py``); it yields
an ``S3Endpoint`` (URL, access and secret key, region). moto's S3 emulator is only a fast
stand-in beside it (tests/unit, and test_storage.py's ``moto`` case).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .swift_server import S3Endpoint

PR_SET_PDEATHSIG = 1
DEFAULT_PG_PORT = 5432
START_SECONDS = 30.0
STOP_SECONDS = 30.0


class ServerUnavailable(Exception):
    """The server's program is not installed or cannot run here; the message says which."""


def _die_with_parent() -> None:
    # Runs in the child just before exec: a test process killed hard takes its servers along.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def postgres_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres`` (Debian keeps them out of $PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServerUnavailable("PostgreSQL is not installed (Debian package postgresql)")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL; database URLs for SQLAlchemy (psycopg 3)."""

    socket_dir: Path
    user: str = "postgres"
    _names: Iterator[int] = field(default_factory=itertools.count)
    _template: str | None = None
    tcp: tuple[str, int] | None = None
    """(address, port) when it also listens on TCP (``postgres_server(listen=...)``)."""

    @property
    def port(self) -> int:
        """The port (its unix socket's name holds it too)."""
        return self.tcp[1] if self.tcp is not None else DEFAULT_PG_PORT

    def url(self, database: str) -> str:
        url = f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}"
        return url if self.port == DEFAULT_PG_PORT else f"{url}&port={self.port}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            dbname="postgres",
            user=self.user,
            host=str(self.socket_dir),
            port=self.port,
            autocommit=True,
        ) as connection:
            connection.execute(sql)

    def _create(self, template: str = "template1") -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def empty_database(self) -> str:
        return self.url(self._create())

    def migrated_database(self) -> str:
        """A new database at the head revision (a copy of one migrated once)."""
        if self._template is None:
            from aasee.service.db import upgrade

            template = self._create()
            upgrade(self.url(template))
            self._template = template
        return self.url(self._create(self._template))


@contextlib.contextmanager
def postgres_server(
    timezone: str = "UTC", listen: str | None = None, trusted_network: str | None = None
) -> Iterator[PostgresServer]:
    """initdb + postgres in a fresh folder under /tmp (short: unix socket paths are bounded);
    ``timezone`` is the server's session default, to show stored times do not depend on it.
    With ``listen`` (an address of this host) it also listens on TCP there, on a free port,
    and trusts clients of ``trusted_network`` (a CIDR) without a password."""
    bindir = postgres_bindir()
    as_user: str | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("running as root and there is no postgres user") from exc
        as_user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="aasee-pg-", dir="/tmp"))
    process: subprocess.Popen[bytes] | None = None
    try:
        if as_user is not None:
            os.chown(base, account.pw_uid, account.pw_gid)
        data = base / "data"
        log = base / "server.log"
        subprocess.run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            user=as_user,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=base,
        )
        tcp: tuple[str, int] | None = None
        listening = ["-c", "listen_addresses="]
        if listen is not None:
            tcp = (listen, free_port(listen))
            listening = ["-c", f"listen_addresses={listen}", "-c", f"port={tcp[1]}"]
            if trusted_network is not None:
                with open(data / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {trusted_network} trust\n")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-k",
                    str(base),
                    *listening,
                    "-c",
                    f"timezone={timezone}",
                    # A throwaway server: durability is not wanted, speed is.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                user=as_user,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=base,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - started from the test's thread
            )
        _wait_ready(bindir, base, process, log, tcp[1] if tcp else DEFAULT_PG_PORT)
        yield PostgresServer(base, tcp=tcp)
    finally:
        if process is not None:
            _stop(process, signal.SIGINT)  # "fast" shutdown: disconnects clients, then exits
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(
    bindir: Path, socket_dir: Path, process: subprocess.Popen[bytes], log: Path, port: int
) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"postgres exited at start:\n{log.read_text()[-3000:]}")
        ready = subprocess.run(
            [
                str(bindir / "pg_isready"),
                *("-q", "-h", str(socket_dir), "-p", str(port), "-U", "postgres"),
            ],
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"postgres not ready after {START_SECONDS:.0f} s:\n{log.read_text()}")


class RedisServer:
    """A real redis-server in ``folder`` on a unix socket, or on TCP at ``host`` (a free
    port), without persistence; ``restart()`` stops it and starts it again at the same
    address, with an empty data set (as after a crash of a Redis without persistence)."""

    def __init__(self, folder: Path, host: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("redis-server is not installed (Debian package redis-server)")
        self.binary = binary
        self.folder = folder
        self.sock = folder / "redis.sock"
        self.host = host
        self.port = free_port(host) if host is not None else 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.host is not None:
            return f"redis://{self.host}:{self.port}/0"
        return f"unix://{self.sock}?db=0"

    def start(self) -> None:
        listen = ["--port", "0", "--unixsocket", str(self.sock)]
        if self.host is not None:
            listen = ["--bind", self.host, "--port", str(self.port), "--protected-mode", "no"]
        self.process = subprocess.Popen(
            [self.binary, *listen, "--dir", str(self.folder), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        deadline = time.monotonic() + START_SECONDS
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise ServerUnavailable("redis-server did not start")
            time.sleep(0.05)

    def _ready(self) -> bool:
        if self.host is None:
            return self.sock.exists()
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGTERM)
            self.process = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextlib.contextmanager
def redis_instance(folder: Path, host: str | None = None) -> Iterator[RedisServer]:
    """A started ``RedisServer``, stopped on the way out."""
    server = RedisServer(folder, host)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A real redis-server on a unix socket in ``folder`` (no TCP port); yields its URL."""
    with redis_instance(folder) as server:
        yield server.url


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def s3_server(folder: Path | None = None, host: str = "127.0.0.1") -> Iterator[S3Endpoint]:
    """A real S3 server (OpenStack Swift + s3api + tempauth, see ``swift_server.py``) on free
    ports (its S3 API on ``host``, its storage servers on loopback), its files in ``folder``
    (by default a new folder under /tmp, removed on the way out); yields its endpoint: URL,
    credentials, region."""
    from .swift_server import swift_s3_server

    base = folder if folder is not None else Path(tempfile.mkdtemp(prefix="aasee-s3-", dir="/tmp"))
    try:
        with swift_s3_server(base, host) as endpoint:
            yield endpoint
    finally:
        if folder is None:
            shutil.rmtree(base, ignore_errors=True)
