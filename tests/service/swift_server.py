"""A real S3 server for tests, from Debian's packages: OpenStack Swift with its ``s3api``
middleware and ``tempauth``, plus memcached, all on free loopback ports, in one folder.

``swift_s3_server(folder)`` writes the rings and the four servers' configurations in
``folder/swift``, starts memcached and Swift's account, container, object and proxy servers
(one process each: ``workers = 0``), waits for every ``/healthcheck``, and yields an
``S3Endpoint``: the proxy's URL and the S3 credentials (tempauth's user ``test:tester``, key
``testing``; SigV4, path-style addressing, region ``us-east-1``). On the way out every process
gets SIGTERM, then SIGKILL if it lingers, and ``folder/swift`` is removed. The ports are free
ones picked at start, so two test sessions can run side by side.

Swift reads ``/etc/swift/swift.conf`` (the hash path salt and storage policies) from that fixed
path; the one the Debian package ``swift`` installs is used as it is. The Debian packages
needed: ``swift swift-proxy swift-account swift-container swift-object python3-swift
memcached`` (``make install``).

Use from a test::

    with swift_s3_server(tmp_path) as s3:
        s3.client().create_bucket(Bucket="b")
        os.environ.update(s3.environment())      # for code that reads the AWS_* variables
        url = f"s3://b/prefix?endpoint_url={s3.url}&region={s3.region}"
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .servers import ServerUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PR_SET_PDEATHSIG = 1
SWIFT_CONF = Path("/etc/swift/swift.conf")
SWIFT_PYTHON = "/usr/bin/python3"  # the interpreter of Debian's swift-*-server scripts
ROLES = ("account", "container", "object")
START_SECONDS = 60.0
STOP_SECONDS = 10.0
START_ATTEMPTS = 3  # a free port taken by someone else between pick and bind: start again

ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"
REGION = "us-east-1"

# One device, one replica, one partition: the rings of a single-disk test cluster.
RING_SCRIPT = """
import sys
from swift.common.ring import RingBuilder

folder = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    builder = RingBuilder(0, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "device": "d1", "weight": 100})
    builder.rebalance()
    builder.get_ring().save(f"{folder}/{name}.ring.gz")
"""


class SwiftUnavailable(ServerUnavailable):
    """Swift or memcached is not installed or did not start; the message says why."""


@dataclass(frozen=True)
class S3Endpoint:
    """How to reach the test's S3 server."""

    url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def environment(self) -> dict[str, str]:
        """The AWS_* variables boto3 (and the service's S3 storage) read credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> S3Client:
        """A boto3 S3 client of this server, for a test's own setup and checks."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


def _die_with_parent() -> None:
    # Runs in the child just before exec: a test process killed hard takes its servers along.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while picking, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            ports.append(int(probe.getsockname()[1]))
        return ports


def _programs() -> dict[str, str]:
    names = {role: f"swift-{role}-server" for role in (*ROLES, "proxy")}
    names["memcached"] = "memcached"
    found = {role: shutil.which(name) for role, name in names.items()}
    missing = [names[role] for role, path in found.items() if path is None]
    if missing:
        raise SwiftUnavailable(
            f"not installed: {', '.join(missing)} (Debian packages swift swift-proxy "
            "swift-account swift-container swift-object python3-swift memcached)"
        )
    if not SWIFT_CONF.is_file():
        raise SwiftUnavailable(f"{SWIFT_CONF} is missing (Debian package swift)")
    return {role: path for role, path in found.items() if path is not None}


def _write_configuration(base: Path, ports: dict[str, int], host: str = "127.0.0.1") -> None:
    etc = base / "etc"
    etc.mkdir(parents=True)
    (base / "data" / "d1").mkdir(parents=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    common = (
        "[DEFAULT]\n"
        "bind_ip = 127.0.0.1\n"
        "workers = 0\n"
        f"user = {user}\n"
        f"swift_dir = {etc}\n"
        "log_level = WARNING\n"
    )
    for role in ROLES:
        (etc / f"{role}-server.conf").write_text(
            common + f"bind_port = {ports[role]}\n"
            f"devices = {base / 'data'}\n"
            "mount_check = false\n"
            "disable_fallocate = true\n"
            "\n[pipeline:main]\n"
            f"pipeline = healthcheck {role}-server\n"
            f"\n[app:{role}-server]\nuse = egg:swift#{role}\n"
            "\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
        )
    filters = ("catch_errors", "gatekeeper", "healthcheck", "listing_formats", "copy", "slo")
    (etc / "proxy-server.conf").write_text(
        common.replace("bind_ip = 127.0.0.1", f"bind_ip = {host}")
        + f"bind_port = {ports['proxy']}\n"
        "\n[pipeline:main]\n"
        "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
        "s3api tempauth copy slo dlo proxy-logging proxy-server\n"
        "\n[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        f"\n[filter:s3api]\nuse = egg:swift#s3api\nlocation = {REGION}\n"
        "\n[filter:tempauth]\nuse = egg:swift#tempauth\n"
        f"user_{ACCESS_KEY.replace(':', '_')} = {SECRET_KEY} .admin\n"
        "\n[filter:cache]\nuse = egg:swift#memcache\n"
        f"memcache_servers = 127.0.0.1:{ports['memcached']}\n"
        "\n[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
        "\n[filter:dlo]\nuse = egg:swift#dlo\n"
        + "".join(f"\n[filter:{name}]\nuse = egg:swift#{name}\n" for name in filters)
    )
    built = subprocess.run(
        [SWIFT_PYTHON, "-c", RING_SCRIPT, str(etc), *(str(ports[role]) for role in ROLES)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise SwiftUnavailable(f"cannot build Swift's rings: {built.stderr[-2000:]}")


def _healthy(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthcheck", timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process at once, then SIGKILL to any still there after STOP_SECONDS."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _PortTaken(Exception):
    pass


def _start(
    base: Path, programs: dict[str, str], processes: list[subprocess.Popen[bytes]], host: str
) -> S3Endpoint:
    ports = dict(zip(("memcached", *ROLES, "proxy"), _free_ports(5), strict=True))
    _write_configuration(base, ports, host)
    logs = base / "logs"
    logs.mkdir()
    commands = {
        "memcached": [
            programs["memcached"],
            "--listen=127.0.0.1",
            f"--port={ports['memcached']}",
            "--udp-port=0",
            "--memory-limit=16",
            *(["--user=root"] if os.geteuid() == 0 else []),
        ],
        **{
            role: [programs[role], str(base / "etc" / f"{role}-server.conf"), "--verbose"]
            for role in (*ROLES, "proxy")
        },
    }
    for role, command in commands.items():
        with open(logs / f"{role}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=base,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - started from the test's thread
                )
            )
    waiting = dict(zip(commands, processes, strict=True))
    deadline = time.monotonic() + START_SECONDS
    while waiting:
        for role, process in list(waiting.items()):
            if process.poll() is not None:
                text = (logs / f"{role}.log").read_text(errors="replace")
                if "Address already in use" in text or "could not bind" in text.lower():
                    raise _PortTaken(role)
                raise SwiftUnavailable(f"{role} server exited at start:\n{text[-3000:]}")
            if role == "memcached" or _healthy(
                ports[role], host if role == "proxy" else "127.0.0.1"
            ):
                del waiting[role]
        if time.monotonic() > deadline:
            raise SwiftUnavailable(
                f"Swift not ready after {START_SECONDS:.0f} s: {', '.join(waiting)} silent"
            )
        if waiting:
            time.sleep(0.1)
    return S3Endpoint(f"http://{host}:{ports['proxy']}")


@contextlib.contextmanager
def swift_s3_server(folder: Path, host: str = "127.0.0.1") -> Iterator[S3Endpoint]:
    """Swift + s3api + tempauth + memcached in ``folder/swift``; see the module's text. The S3
    API (the proxy) listens on ``host``; the storage servers and memcached on loopback."""
    programs = _programs()
    base = folder / "swift"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir(parents=True)
            try:
                endpoint = _start(base, programs, processes, host)
                break
            except _PortTaken:
                _stop_all(processes)
                processes.clear()
                if attempt == START_ATTEMPTS:
                    raise SwiftUnavailable("no free ports for Swift after three attempts") from None
        yield endpoint
    finally:
        _stop_all(processes)
        shutil.rmtree(base, ignore_errors=True)
