"""A throwaway karton pipeline for tests: karton-system, karton-classifier, karton-mwdb-reporter
and mwdb-core, on servers the test starts (Redis, S3, PostgreSQL: ``tests/service/servers.py``).

mwdb-core pins its own libraries (SQLAlchemy 1.4, redis 4.5, ...) and the karton services
theirs, so neither can live in AASEE's virtualenv: ``venv(name, requirements)`` builds one
virtualenv per pinned requirement list with ``python -m venv`` and pip (from PyPI), under
``$AASEE_HOME/cache/test-venvs/<name>-<hash of the list and Python version>``, once: a
second run finds it ready (its ``.complete`` marker), and two sessions building the same
one wait for each other (a lock file). karton-system itself is the console script of
karton-core, which AASEE's virtualenv has.

``Pipeline`` starts the daemons (each in its own log file, with ``PR_SET_PDEATHSIG`` so a
test killed hard takes them along) and stops them all, SIGTERM then SIGKILL, in reverse order
on the way out. ``mwdb_server`` runs ``mwdb-core configure -q`` non-interactively (its
settings as ``MWDB_*`` variables, the database a PostgreSQL one) and then mwdb-core under
gunicorn, logs in as admin and creates an API key for the reporter.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from aasee.images.store import cache_dir
from tests.service.servers import ServerUnavailable, _die_with_parent

KARTON_REQUIREMENTS = (
    "karton-core==5.9.1",
    "karton-classifier==2.2.0",
    "karton-mwdb-reporter==1.3.0",
    "mwdblib==4.8.0",
)
MWDB_REQUIREMENTS = ("mwdb-core==2.20.0",)
PIP_SECONDS = 1200
START_SECONDS = 90.0
STOP_SECONDS = 30.0
ROOT = Path(__file__).resolve().parents[2]
KARTON_SYSTEM = ROOT / ".venv" / "bin" / "karton-system"
# What a daemon must get from its settings file, never from the test's environment.
OWN_SETTINGS = frozenset(
    {"AASEE_CONFIG", "AASEE_DATABASE_URL", "AASEE_QUEUE_URL", "AASEE_STORAGE_URL"}
)


def venv(name: str, requirements: tuple[str, ...]) -> Path:
    """A virtualenv with ``requirements`` installed, built once and cached (see above)."""
    spec = json.dumps([list(sys.version_info[:2]), sorted(requirements)])
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    root = cache_dir() / "test-venvs"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{name}-{key}"
    with open(root / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(target)],
            [
                str(target / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *requirements,
            ],
        ]
        for step in steps:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=PIP_SECONDS, check=False
            )
            if done.returncode != 0:
                shutil.rmtree(target, ignore_errors=True)
                raise ServerUnavailable(
                    f"cannot build the {name} virtualenv ({' '.join(step[:4])} ...): "
                    f"{(done.stdout + done.stderr)[-3000:]}"
                )
        (target / ".complete").write_text(spec + "\n")
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, size: int = 6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""


@dataclass
class Pipeline:
    """The daemons of one test, in start order; ``stop`` ends them in reverse order."""

    folder: Path
    daemons: list[Daemon] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: list[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
    ) -> Daemon:
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.folder,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - started from the test's thread
            )
        daemon = Daemon(name, process, log)
        self.daemons.append(daemon)
        return daemon

    def check(self) -> None:
        """Fail at once, with its log, if a daemon died."""
        for daemon in self.daemons:
            code = daemon.process.poll()
            if code is not None:
                raise AssertionError(f"{daemon.name} exited with {code}:\n{daemon.tail()}")

    def stop(self, daemon: Daemon) -> int | None:
        process = daemon.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return None
        return process.returncode

    def stop_all(self) -> dict[str, int | None]:
        codes = {}
        for daemon in reversed(self.daemons):
            codes[daemon.name] = self.stop(daemon)
        return codes

    def logs(self) -> str:
        return "\n".join(f"--- {d.name} ---\n{d.tail()}" for d in self.daemons)


@contextlib.contextmanager
def pipeline(folder: Path) -> Iterator[Pipeline]:
    started = Pipeline(folder)
    try:
        yield started
    finally:
        codes = started.stop_all()
        # Shown by pytest when the test fails: what each daemon said, and how it ended.
        print(started.logs())
        print(f"exit codes: {codes}")


def wait_for(condition: Any, timeout: float, what: str, pipeline: Pipeline | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipeline is not None:
            pipeline.check()
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def karton_ini(
    path: Path, redis_url: str, s3: Any, bucket: str, extra: Mapping[str, Mapping[str, Any]]
) -> Path:
    """karton.ini for every service of the pipeline (each reads the sections it knows)."""
    sections: dict[str, Mapping[str, Any]] = {
        "redis": {"url": redis_url, "socket_timeout": 30},
        "s3": {
            "address": s3.url,
            "access_key": s3.access_key,
            "secret_key": s3.secret_key,
            "bucket": bucket,
        },
        "logging": {"level": "INFO"},
        **extra,
    }
    path.write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())
            for name, values in sections.items()
        )
    )
    return path


def start_karton_system(pipe: Pipeline, config: Path, env: Mapping[str, str]) -> Daemon:
    return pipe.start(
        "karton-system", [str(KARTON_SYSTEM), "--config-file", str(config), "--setup-bucket"], env
    )


def start_karton_service(
    pipe: Pipeline, karton_venv: Path, script: str, config: Path, env: Mapping[str, str]
) -> Daemon:
    return pipe.start(
        script, [str(karton_venv / "bin" / script), "--config-file", str(config)], env
    )


@dataclass
class Mwdb:
    """A running mwdb-core: its API URL and an API key of its administrator."""

    url: str
    api_key: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def get(self, path: str) -> Any:
        answer = requests.get(
            f"{self.url}/api/{path}",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return answer.json()

    def file(self, sha256: str) -> dict[str, Any] | None:
        found = self.get(f"file/{sha256}")
        return found if isinstance(found, dict) else None


def mwdb_server(
    pipe: Pipeline, mwdb_venv: Path, postgres_uri: str, folder: Path, env: Mapping[str, str]
) -> Mwdb:
    """mwdb-core configured (``configure -q``) and served by gunicorn; its API key."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uploads").mkdir(exist_ok=True)
    port = free_port()
    password = secrets.token_urlsafe(16)
    settings = {
        **env,
        "MWDB_POSTGRES_URI": postgres_uri,
        "MWDB_SECRET_KEY": secrets.token_hex(16),
        "MWDB_UPLOADS_FOLDER": str(folder / "uploads"),
        "MWDB_ADMIN_PASSWORD": password,
        "MWDB_BASE_URL": f"http://127.0.0.1:{port}",
        "MWDB_SERVE_WEB": "0",
        "MWDB_ENABLE_KARTON": "0",
        "MWDB_ENABLE_RATE_LIMIT": "0",
        "MWDB_ENABLE_PLUGINS": "0",
        # ssdeep needs Debian's libfuzzy2, which nothing else here uses.
        "MWDB_ENABLE_SSDEEP": "0",
    }
    configured = subprocess.run(
        [str(mwdb_venv / "bin" / "mwdb-core"), "configure", "--quiet", "basic"],
        env=settings,
        cwd=folder,  # no mwdb.ini of anyone else's
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = configured.stdout + configured.stderr
    if configured.returncode != 0 or "configured successfully" not in output:
        raise ServerUnavailable(f"mwdb-core configure failed:\n{output[-4000:]}")
    pipe.start(
        "mwdb-core",
        [
            str(mwdb_venv / "bin" / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--timeout",
            "120",
            "mwdb.app:app",
        ],
        settings,
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return requests.get(f"{url}/api/server", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(answering, START_SECONDS, "mwdb-core to answer", pipe)
    login = requests.post(
        f"{url}/api/auth/login", json={"login": "admin", "password": password}, timeout=30
    )
    login.raise_for_status()
    issued = requests.post(
        f"{url}/api/user/admin/api_key",
        json={"name": "karton-mwdb-reporter"},
        headers={"Authorization": f"Bearer {login.json()['token']}"},
        timeout=30,
    )
    issued.raise_for_status()
    return Mwdb(url, issued.json()["token"])


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without service, AWS, karton or MWDB settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in OWN_SETTINGS and not k.startswith(("AWS_", "KARTON_", "MWDB_", "PYTEST_"))
    }
    env.update(extra, PYTHONUNBUFFERED="1")
    return env
