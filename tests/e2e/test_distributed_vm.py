"""The service as a multi-host install, on one machine: ``aasee web``, ``aasee postprocess`` and
two ``aasee worker`` hosts, each in a network namespace and a UTS namespace of its own (its own
address and host name), joined by a bridge to PostgreSQL, Redis and an S3 server (OpenStack
Swift + s3api), which listen on the bridge's address only. It follows deploy/README.md: the
settings file is deploy/aasee.toml with the three servers' addresses put in (and shorter
timings), the secrets are deploy/aasee.env's variables.

Twenty shell samples submitted over the REST API become twenty reports, each reported once,
while

- the worker host running a task dies mid-analysis (SIGKILL of the worker process running it
  and of the rest of that host: its supervisor, its VMs): the task is retried on the other
  worker host once the dead worker's heartbeat is stale (by the reapers of the other hosts),
  ``GET /api/v1/workers`` lists the dead worker as stale, and the host, started again, rejoins;
- Redis is restarted without persistence, so every queued message is lost: the reapers re-send
  the waiting tasks, and none is analysed or reported twice.

The throughput (analyses per minute from the first submission to the last report) is printed.
``AASEE_DT_WORKERS=1`` (one worker host) and ``AASEE_DT_FAULTS=0`` (no host killed, no Redis
restart) measure it without the faults.

Run it under the VM lock: ``flock /tmp/aasee-vm.lock .venv/bin/pytest -q -s
tests/e2e/test_distributed_vm.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dpkt
import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.contexts.network import list_sandbox_namespaces
from aasee.images.store import GuestImage, aasee_home
from aasee.service.models import Task
from aasee.service.queue import Queues
from tests.service.servers import (
    PostgresServer,
    RedisServer,
    postgres_server,
    redis_instance,
    s3_server,
)
from tests.service.swift_server import S3Endpoint

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
AASEE = ROOT / ".venv" / "bin" / "aasee"
DEPLOY = ROOT / "deploy"
DEFAULT_IMAGE = get_profile(DEFAULT_ARCH).default_image

SUBMISSIONS = 20
WORKER_HOSTS = int(os.environ.get("AASEE_DT_WORKERS", "2"))
FAULTS = os.environ.get("AASEE_DT_FAULTS", "1") != "0" and WORKER_HOSTS > 1
SAMPLE_TIMEOUT = "5"
STOP_SECONDS = 150
FINISH_SECONDS = 600

# The private network of the "hosts": a bridge in the test's own namespace (the servers' side)
# and one namespace per host, each with a veth to the bridge.
BRIDGE = "adt-br0"
SUBNET = "10.213.0"
SERVERS = f"{SUBNET}.1"
HOSTS = {"adt-web": 10, "adt-pp": 11, "adt-w1": 21, "adt-w2": 22}
WEB_PORT = 8000
# What the test changes in deploy/aasee.toml besides the servers' addresses: its own scratch
# folder, and timings short enough for a test under TCG.
TEST_TIMINGS = {"heartbeat_seconds": 2, "stale_after_seconds": 10, "default_timeout": 5}
TEMPLATE_HOSTS = {
    "database_url": "db.aasee.internal:5432",
    "queue_url": "queue.aasee.internal:6379",
    "storage_url": "s3.aasee.internal:8080",
}


def _wait(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the network ---------------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _remove_network() -> None:
    for name in HOSTS:
        _ip("netns", "del", name, check=False)
        _ip("link", "del", f"{name}-h", check=False)
    _ip("link", "del", BRIDGE, check=False)


@contextlib.contextmanager
def private_network() -> Iterator[None]:
    """The bridge (``SERVERS``/24) and a namespace per host (eth0 at ``SUBNET``.N, a veth to
    the bridge); removed on the way out, and first if an earlier run was killed."""
    _remove_network()
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{SERVERS}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        for name, octet in HOSTS.items():
            _ip("netns", "add", name)
            _ip("link", "add", f"{name}-h", "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("link", "set", f"{name}-h", "master", BRIDGE, "up")
            _ip("-n", name, "addr", "add", f"{SUBNET}.{octet}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
        yield
    finally:
        _remove_network()
    left = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert BRIDGE not in left and "adt-" not in left, f"network left behind:\n{left}"
    assert not any(Path("/run/netns", name).exists() for name in HOSTS)


# --- the settings, from deploy/ ------------------------------------------------------------


def _toml(values: dict[str, Any]) -> str:
    """TOML of flat settings (strings, numbers, booleans, lists of strings)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        elif isinstance(value, list):
            text = "[" + ", ".join(json.dumps(str(item)) for item in value) + "]"
        else:
            text = json.dumps(str(value))
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def render_settings(addresses: dict[str, str], scratch: Path) -> str:
    """deploy/aasee.toml with each server's ``host:port`` replaced by ``addresses[key]``, and
    the test's scratch folder and timings: the same keys, the same URLs otherwise."""
    template = tomllib.loads((DEPLOY / "aasee.toml").read_text())
    values = dict(template)
    for key, placeholder in TEMPLATE_HOSTS.items():
        assert placeholder in template[key], f"deploy/aasee.toml: {key} no longer names it"
        values[key] = template[key].replace(placeholder, addresses[key])
    values.update(TEST_TIMINGS, scratch_dir=str(scratch), home=str(aasee_home()))
    assert set(values) == set(template), "the test must not add keys the example lacks"
    return _toml(values)


def deploy_environment(s3: S3Endpoint) -> dict[str, str]:
    """deploy/aasee.env's variables, with the S3 keys of the test's server."""
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "aasee.env").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert {"PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(names)
    given = {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "PGPASSWORD": "unused-the-test-server-trusts-its-network",
    }
    return {name: given[name] for name in names}


# --- the servers ---------------------------------------------------------------------------


@dataclass
class Servers:
    postgres: PostgresServer
    database: str  # the unix-socket URL of the "aasee" database, for the test's own checks
    redis: RedisServer
    s3: S3Endpoint
    config: Path
    env: dict[str, str]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """PostgreSQL, Redis and Swift (S3) listening on the bridge's address only, the settings
    file rendered from deploy/aasee.toml, the daemons' environment."""
    (tmp_path / "redis").mkdir()
    with (
        private_network(),
        postgres_server(listen=SERVERS, trusted_network=f"{SUBNET}.0/24") as postgres,
        redis_instance(tmp_path / "redis", SERVERS) as redis,
        s3_server(tmp_path / "s3", host=SERVERS) as s3,
    ):
        assert postgres.tcp is not None
        # What deploy/README.md has the operator create: a role and a database "aasee".
        postgres._admin("CREATE ROLE aasee LOGIN")
        postgres._admin("CREATE DATABASE aasee OWNER aasee")
        database = postgres.url("aasee")
        storage_host = s3.url.removeprefix("http://")
        addresses = {
            "database_url": f"{SERVERS}:{postgres.tcp[1]}",
            "queue_url": f"{SERVERS}:{redis.port}",
            "storage_url": storage_host,
        }
        config = tmp_path / "aasee.toml"
        config.write_text(render_settings(addresses, tmp_path / "scratch"))
        s3.client().create_bucket(Bucket="aasee")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AASEE_", "AWS_", "PG"))}
        env.update(deploy_environment(s3), AASEE_CONFIG=str(config), PYTHONUNBUFFERED="1")
        yield Servers(postgres, database, redis, s3, config, env)


# --- the hosts -----------------------------------------------------------------------------


@dataclass
class Host:
    """One `aasee` daemon in its own network and UTS namespace (its own "host")."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    history: list[str] = field(default_factory=list)
    _terminated: bool = False

    def start(self) -> None:
        # `ip netns exec` joins the host's network (and mounts its own /sys); `unshare --uts`
        # gives it a host name of its own, which names its workers (host:pid:kind-N).
        command = [
            "ip", "netns", "exec", self.name,
            "unshare", "--uts",
            "sh", "-c", 'hostname "$0" && exec "$@"', self.name,
            str(AASEE), *self.argv,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def power_cut(self, worker_pid: int) -> None:
        """The host dies: SIGKILL of the worker process ``worker_pid`` (mid-task), then of
        everything else of the host at once (its supervisor frozen first, so it cannot react
        to the worker's death: nothing of the host says goodbye)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        os.kill(worker_pid, signal.SIGKILL)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None
        self.history.append(f"killed (SIGKILL, worker pid {worker_pid})")

    def terminate(self) -> None:
        """SIGTERM, once: a second one could reach the daemon after its own handler is gone
        (Python restores the default ones while it exits) and kill it."""
        if self.process is not None and self.process.poll() is None and not self._terminated:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL of the whole host after ``STOP_SECONDS``; the exit status."""
        process = self.process
        if process is None:
            return None
        self.terminate()
        code: int | None
        try:
            code = process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the host is left
        process.wait()
        self.process = None
        self._terminated = False
        self.history.append(f"stopped (exit {code})")
        return code


def _aasee(servers: Servers, *args: str) -> str:
    """One `aasee` command in the test's own namespace (on the servers' side of the bridge)."""
    done = subprocess.run(
        [str(AASEE), *args, "--config", str(servers.config)],
        env=servers.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"aasee {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def hosts(servers: Servers, tmp_path: Path) -> Iterator[dict[str, Host]]:
    """web, postprocess and WORKER_HOSTS worker hosts, one daemon each (a worker host runs
    `aasee worker --count 1`); all stopped however the test ends, their logs printed."""
    _aasee(servers, "db", "upgrade")
    config = ["--config", str(servers.config)]
    argvs = {
        "adt-web": ["web", "--host", f"{SUBNET}.{HOSTS['adt-web']}", "--port", str(WEB_PORT)],
        "adt-pp": ["postprocess"],
        **{f"adt-w{i}": ["worker", "--count", "1"] for i in range(1, WORKER_HOSTS + 1)},
    }
    started = {
        name: Host(name, [*argv, *config], tmp_path / f"{name}.log", servers.env)
        for name, argv in argvs.items()
    }
    try:
        for host in started.values():
            host.start()
        yield started
    finally:
        for host in started.values():
            host.terminate()
        for name, host in started.items():
            host.stop()
            print(f"--- {name}: {', '.join(host.history)} ---\n{host.log.read_text()[-6000:]}")


# --- the test ------------------------------------------------------------------------------


def _sample(index: int) -> bytes:
    return (
        f"#!/bin/sh\necho sample {index}\n"
        f"busybox wget -q -O /dev/null http://distributed-{index}.example/ ; echo done\n"
    ).encode()


@dataclass
class Watch:
    """What the test saw while polling the API: each task's workers, the fleet."""

    workers_of: dict[str, list[str]] = field(default_factory=dict)
    stale_seen: set[str] = field(default_factory=set)

    def tasks(self, api: httpx.Client) -> dict[str, dict[str, Any]]:
        page = api.get("/api/v1/tasks", params={"limit": 200})
        assert page.status_code == 200, page.text
        views = {task["id"]: task for task in page.json()["items"]}
        for task_id, view in views.items():
            seen = self.workers_of.setdefault(task_id, [])
            if view["worker"] and view["status"] in ("starting_vm", "running"):
                if not seen or seen[-1] != view["worker"]:
                    seen.append(view["worker"])
        return views

    def fleet(self, api: httpx.Client) -> list[dict[str, Any]]:
        answer = api.get("/api/v1/workers")
        assert answer.status_code == 200, answer.text
        workers: list[dict[str, Any]] = answer.json()
        self.stale_seen |= {w["name"] for w in workers if not w["alive"]}
        return workers


def test_twenty_submissions_on_a_multi_host_install_survive_a_dead_host_and_a_redis_restart(
    guest_image: GuestImage,
    ready_snapshot: object,
    no_leftovers: None,
    servers: Servers,
    hosts: dict[str, Host],
) -> None:
    namespaces_before = set(list_sandbox_namespaces())
    token = _aasee(servers, "token", "create", "distributed").strip().splitlines()[-1]
    assert token.startswith("aasee_")
    web = f"http://{SUBNET}.{HOSTS['adt-web']}:{WEB_PORT}"
    watch = Watch()
    with httpx.Client(
        base_url=web, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:

        def fleet_ready() -> list[dict[str, Any]] | None:
            try:
                workers = watch.fleet(api)
            except httpx.TransportError:
                return None  # the web host is still starting
            alive = sorted((w["kind"], w["host"]) for w in workers if w["alive"])
            wanted = [("postprocess", "adt-pp")] + [
                ("sandbox", f"adt-w{i}") for i in range(1, WORKER_HOSTS + 1)
            ]
            return workers if alive == sorted(wanted) else None

        fleet = _wait(fleet_ready, 120, "the web host and every worker host")
        for worker in fleet:
            if worker["kind"] == "sandbox":
                # Each worker host says what it can run.
                assert f"{DEFAULT_IMAGE}:{DEFAULT_ARCH}" in worker["images"], worker
                assert "qemu" in worker["sandboxes"] and DEFAULT_ARCH in worker["arches"]
                assert worker["vm_limit"] >= 1 and worker["free_slots"] is not None
                assert worker["cpus"] == os.cpu_count() and len(worker["load"]) == 3
        health = api.get("/api/v1/health").json()
        assert health["queue"]["ok"]
        assert health["storage"]["backend"].startswith("s3://aasee/service")

        started = time.monotonic()
        ids = []
        for index in range(SUBMISSIONS):
            created = api.post(
                "/api/v1/tasks",
                files={"file": (f"sample-{index}.sh", _sample(index), "text/x-shellscript")},
                data={"timeout": SAMPLE_TIMEOUT},
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        assert len(set(ids)) == SUBMISSIONS

        victim: str | None = None
        dead_worker: str | None = None
        w1_back = not FAULTS
        redis_restarted = not FAULTS

        def step() -> bool:
            """One look at the service; the faults are injected when their moment comes."""
            nonlocal victim, dead_worker, w1_back, redis_restarted
            views = watch.tasks(api)
            fleet = watch.fleet(api)
            statuses = [views[task_id]["status"] for task_id in ids]
            failed = [views[t] for t in ids if views[t]["status"] == "failed"]
            assert not failed, f"tasks failed: {failed}"
            if FAULTS and victim is None:
                running = [
                    w
                    for w in fleet
                    if w["alive"]
                    and w["host"] == "adt-w1"
                    and w["task_id"] in views
                    and views[w["task_id"]]["status"] == "running"
                ]
                if running:
                    victim, dead_worker = running[0]["task_id"], running[0]["name"]
                    hosts["adt-w1"].power_cut(int(running[0]["pid"]))
            if victim is not None and not w1_back:
                retried_on = watch.workers_of.get(victim, [])
                if any(name.startswith("adt-w2:") for name in retried_on):
                    hosts["adt-w1"].start()  # the host comes back and rejoins
                    w1_back = True
            if victim is not None and not redis_restarted and statuses.count("reported") >= 8:
                # Every message queued now is lost: the reapers must re-send them.
                servers.redis.restart(down_seconds=2.0)
                redis_restarted = True
            return statuses.count("reported") == SUBMISSIONS and w1_back and redis_restarted

        _wait(step, FINISH_SECONDS, "every submission to be reported", every=1.0)
        views = watch.tasks(api)
        elapsed = max(_seconds(views[t]["finished"]) for t in ids) - min(
            _seconds(views[t]["created"]) for t in ids
        )
        per_minute = SUBMISSIONS / elapsed * 60
        print(
            f"\nTHROUGHPUT {WORKER_HOSTS} worker host(s), faults {'on' if FAULTS else 'off'}: "
            f"{SUBMISSIONS} analyses in {elapsed:.1f} s = {per_minute:.2f} per minute "
            f"(wall {time.monotonic() - started:.1f} s from the first submission)"
        )

        # Every submission has its own report, with this run's network evidence.
        for index, task_id in enumerate(ids):
            report = api.get(f"/api/v1/tasks/{task_id}/report")
            assert report.status_code == 200
            assert report.json()["sample"]["sha256"] == hashlib.sha256(_sample(index)).hexdigest()
            pcap = api.get(f"/api/v1/tasks/{task_id}/artefacts/pcap")
            assert pcap.status_code == 200 and list(dpkt.pcap.Reader(io.BytesIO(pcap.content)))
            assert f"distributed-{index}".encode() in pcap.content

        if FAULTS:
            assert victim is not None and dead_worker is not None
            # Taken over by the other host, after the dead worker's heartbeat went stale.
            assert watch.workers_of[victim][0] == dead_worker, watch.workers_of[victim]
            assert watch.workers_of[victim][-1].startswith("adt-w2:"), watch.workers_of[victim]
            assert dead_worker in watch.stale_seen
            listed = {w["name"]: w for w in watch.fleet(api)}
            assert listed[dead_worker]["alive"] is False
            back = [
                w
                for w in listed.values()
                if w["host"] == "adt-w1" and w["alive"] and w["name"] != dead_worker
            ]
            assert back, f"the restarted host did not rejoin: {sorted(listed)}"

    # In the database: each task analysed and reported once, attempts as the faults explain.
    engine = create_engine(servers.database, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Task.id, Task.status, Task.attempts, Task.postprocess_attempts).where(
                    Task.id.in_(ids)
                )
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == SUBMISSIONS
    for row in rows:
        expected_attempts = 2 if row.id == victim else 1
        assert (row.status, row.attempts, row.postprocess_attempts) == (
            "reported",
            expected_attempts,
            1,
        ), row

    # The bucket holds every task's objects; the queues are empty.
    listing = servers.s3.client().list_objects_v2(Bucket="aasee", Prefix="service/tasks/")
    keys = {item["Key"] for item in listing.get("Contents", [])}
    for task_id in ids:
        for name in ("sample.bin", "raw/network.pcap", "raw/run.json", "report.json"):
            assert f"service/tasks/{task_id}/{name}" in keys
    queues = Queues(servers.redis.url)
    assert (queues.analysis(DEFAULT_IMAGE).depth(), queues.postprocess.depth()) == (0, 0)

    # Every host stops cleanly; no VM, run directory or sandbox namespace is left behind.
    for host in hosts.values():
        host.terminate()
    for name, host in hosts.items():
        if host.process is not None:
            assert host.stop() == 0, f"{name} did not stop cleanly"
    assert set(list_sandbox_namespaces()) <= namespaces_before


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
