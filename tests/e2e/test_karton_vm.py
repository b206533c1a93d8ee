"""`aasee karton` in a real karton pipeline with real VMs: karton-system, karton-classifier,
karton-mwdb-reporter and mwdb-core 2.20 (from PyPI, in virtualenvs of their own, cached), on
a real Redis, S3 server (Swift) and PostgreSQL; the AASEE service (`aasee serve`) on the same
PostgreSQL, Redis and S3.

A producer puts two raw samples into karton, as mwdb or karton-dashboard would: the demo
dropper script and a static ELF whose OS/ABI says System V (karton-classifier labels it
``platform: openbsd``). Each ends in MWDB with AASEE's verdict and signature tags and the file
it dropped as its child; the analysis tasks carry report.json, the pcap and the dropped files;
the dropped scripts, classified in turn, are not analysed again (max_depth 0).

Run it under the VM lock: ``flock /tmp/aasee-vm.lock .venv/bin/pytest -q
tests/e2e/test_karton_vm.py -s`` (``-s`` shows how long each step took).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from karton.core import Config, Producer, Resource, Task
from karton.core.__version__ import __version__ as karton_version
from karton.core.backend import KartonBackend, KartonBind
from karton.core.task import TaskState

from aasee.images.store import GuestImage, aasee_home
from aasee.service.facade import TaskService
from aasee.service.settings import load_settings
from tests.e2e.karton_servers import (
    KARTON_REQUIREMENTS,
    MWDB_REQUIREMENTS,
    Mwdb,
    Pipeline,
    clean_environment,
    karton_ini,
    mwdb_server,
    pipeline,
    start_karton_service,
    start_karton_system,
    venv,
    wait_for,
)
from tests.service.servers import postgres_server, redis_server, s3_server

pytestmark = [pytest.mark.vm, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
AASEE = ROOT / ".venv" / "bin" / "aasee"
DROPPER = ROOT / "src" / "aasee" / "demo" / "dropper.sh"
# What the demo dropper writes to /tmp/.cache-update (then renames to .bak).
DROPPER_PAYLOAD = b'#!/bin/sh\necho "payload ran as $(id -un) on $(hostname)"\n'
STAGE_TWO = b"#!/bin/sh\necho stage two of the karton test\n"
ELF_SOURCE = r"""
#include <stdio.h>
int main(void) {
    FILE *out = fopen("/tmp/.stage2.sh", "w");
    if (out == NULL) return 1;
    fputs("#!/bin/sh\necho stage two of the karton test\n", out);
    return fclose(out) != 0;
}
"""
KARTON_BUCKET = "karton"
ANALYSES = "aasee.test.analyses"
TIMINGS: dict[str, float] = {}


def _static_elf_sysv(folder: Path) -> bytes:
    """A static x86-64 program that drops a script, its OS/ABI byte set to System V."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the test program: run `make install`")
    (folder / "stage1.c").write_text(ELF_SOURCE)
    subprocess.run(
        [gcc, "-static", "-O1", "-o", str(folder / "stage1"), str(folder / "stage1.c")],
        check=True,
    )
    data = (folder / "stage1").read_bytes()
    return data[:7] + b"\0" + data[8:]


def _verdict_tag(verdict: str) -> str:
    return "aasee:" + verdict.replace(" ", "_")


def _tags(found: dict[str, Any]) -> set[str]:
    return {t["tag"] for t in found.get("tags", [])}


def _children(found: dict[str, Any]) -> set[str]:
    return {c["id"] for c in found.get("children", [])}


class AnalysisQueue:
    """A karton consumer of ``{"type": "analysis", "kind": "aasee"}`` run by the test itself
    (polled from the test's thread: karton's own loop wants the main thread's signals)."""

    def __init__(self, config: Config) -> None:
        self.backend = KartonBackend(config, identity=ANALYSES)
        self.backend.register_bind(
            KartonBind(
                identity=ANALYSES,
                info="the karton test's analysis collector",
                version=karton_version,
                persistent=False,
                filters=[{"type": "analysis", "kind": "aasee"}],
                service_version=None,
                is_async=False,
            )
        )
        self.tasks: list[Task] = []

    def poll(self) -> None:
        task = self.backend.consume_routed_task(ANALYSES, timeout=1)
        if task is not None:
            self.tasks.append(task)
            self.backend.set_task_status(task, TaskState.FINISHED)

    def close(self) -> None:
        self.backend.unregister_bind(ANALYSES)
        self.backend.redis.close()


def _timed(label: str, started: float) -> float:
    now = time.monotonic()
    TIMINGS[label] = round(now - started, 1)
    return now


def test_karton_pipeline_analyses_samples_into_mwdb(
    guest_image: GuestImage,
    ready_snapshot: object,
    no_leftovers: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    began = step = time.monotonic()
    karton_venv = venv("karton", KARTON_REQUIREMENTS)
    mwdb_venv = venv("mwdb", MWDB_REQUIREMENTS)
    step = _timed("virtualenvs", step)
    elf = _static_elf_sysv(tmp_path)
    dropper = DROPPER.read_bytes()
    samples = {"dropper.sh": dropper, "stage1": elf}
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in samples.items()}
    with (
        postgres_server() as postgres,
        redis_server(tmp_path) as redis_url,
        s3_server(tmp_path) as s3,
        pipeline(tmp_path) as pipe,
    ):
        step = _timed("servers", step)
        for name, value in s3.environment().items():
            monkeypatch.setenv(name, value)
        env = clean_environment(**s3.environment())
        # AASEE on the same servers: its rows in PostgreSQL, its queue in Redis (db 1), its
        # objects in an S3 bucket of its own; the host's guest images and snapshots.
        config = tmp_path / "aasee.toml"
        config.write_text(
            f'home = "{aasee_home()}"\n'
            f'database_url = "{postgres.migrated_database()}"\n'
            f'queue_url = "{redis_url.replace("db=0", "db=1")}"\n'
            f'storage_url = "s3://aasee/service?endpoint_url={s3.url}&region={s3.region}"\n'
            f'scratch_dir = "{tmp_path}/scratch"\n'
            "heartbeat_seconds = 2\n"
            "stale_after_seconds = 30\n"
            "default_timeout = 20\n"
        )
        mwdb = mwdb_server(
            pipe,
            mwdb_venv,
            postgres.empty_database().replace("postgresql+psycopg://", "postgresql://"),
            tmp_path / "mwdb",
            env,
        )
        step = _timed("mwdb-core configured and serving", step)
        ini = karton_ini(
            tmp_path / "karton.ini",
            redis_url,
            s3,
            KARTON_BUCKET,
            {
                "mwdb": {"api_url": mwdb.api_url, "api_key": mwdb.api_key},
                "aasee": {"timeout": 20, "poll_seconds": 1, "report_url": "http://aasee.test"},
            },
        )
        start_karton_system(pipe, ini, env)
        wait_for(
            lambda: (
                s3.client().list_buckets()["Buckets"]
                and any(b["Name"] == KARTON_BUCKET for b in s3.client().list_buckets()["Buckets"])
            ),
            60,
            "karton-system to make its bucket",
            pipe,
        )
        start_karton_service(pipe, karton_venv, "karton-classifier", ini, env)
        start_karton_service(pipe, karton_venv, "karton-mwdb-reporter", ini, env)
        serve = pipe.start(
            "aasee-serve",
            [str(AASEE), "serve", "--workers", "1", "--port", "0", "--config", str(config)],
            env,
        )
        aasee_karton = pipe.start(
            "aasee-karton",
            [str(AASEE), "karton", "--config", str(config), "--karton-config", str(ini)],
            env,
        )
        karton_config = Config(str(ini))
        analyses = AnalysisQueue(karton_config)
        service = TaskService(load_settings(config))
        try:
            binds = redis.Redis.from_url(redis_url)
            wanted = {"karton.classifier", "karton.mwdb-reporter", "karton.aasee", ANALYSES}
            wait_for(
                lambda: wanted <= {b.decode() for b in binds.hkeys("karton.binds")},
                90,
                "every karton service to bind",
                pipe,
            )
            binds.close()
            wait_for(
                lambda: service.health()["workers_alive"] == {"sandbox": 1, "postprocess": 1},
                120,
                "AASEE's sandbox and postprocess workers",
                pipe,
            )
            step = _timed("karton services and aasee serve up", step)

            # A producer, as mwdb or karton-dashboard would be: raw samples, to be classified.
            producer = Producer(karton_config, identity="aasee.test.producer")
            for name, data in samples.items():
                producer.send_task(
                    Task(
                        {"type": "sample", "kind": "raw"},
                        payload={"sample": Resource(name, content=data)},
                    )
                )
            producer.backend.redis.close()

            def both_analyses() -> bool:
                analyses.poll()
                return len(analyses.tasks) >= len(samples)

            wait_for(both_analyses, 600, "two aasee analysis tasks", pipe)
            step = _timed("both samples analysed", step)
            by_sample = {t.get_resource("sample").sha256: t for t in analyses.tasks}
            assert set(by_sample) == set(sha.values())
            verdicts = {
                name: _check_analysis(by_sample[sha[name]], sha[name], dropped)
                for name, dropped in (("dropper.sh", DROPPER_PAYLOAD), ("stage1", STAGE_TWO))
            }

            _check_mwdb(mwdb, sha, verdicts, pipe)
            step = _timed("MWDB has the tags and the dropped children", step)

            # The dropped scripts came back classified, and were not analysed again.
            wait_for(
                lambda: (
                    aasee_karton.tail(200_000).count("it was dropped by an analysed sample") >= 2
                ),
                60,
                "aasee karton to pass over the dropped scripts",
                pipe,
            )
            assert service.list().total == len(samples)
            assert "Failed to process task" not in aasee_karton.tail(200_000)
        finally:
            service.close()
            analyses.close()
        # Stopped, both leave cleanly.
        assert pipe.stop(aasee_karton) == 0, aasee_karton.tail()
        assert pipe.stop(serve) == 0, serve.tail()
    _timed("whole test", began)
    print(f"karton test timings (s): {json.dumps(TIMINGS)}")


def _check_analysis(task: Task, sample_sha256: str, dropped: bytes) -> str:
    """The analysis task's payload: report, pcap, dropped files; returns the verdict."""
    assert task.headers["type"] == "analysis" and task.headers["kind"] == "aasee"
    assert task.headers["origin"] == "karton.aasee"
    report = json.loads(task.get_resource("report.json").download())
    assert report["sample"]["sha256"] == sample_sha256
    assert report["analysis"]["executed"] is True, report["analysis"]
    assert task.get_payload("verdict") == report["verdict"]
    assert task.get_payload("aasee_task")
    assert b"<html" in task.get_resource("report.html").download()[:200].lower()
    pcap = task.get_resource("network.pcap").download()
    assert pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"), "not a pcap"
    resources = task.get_payload("dropped")
    hashes = {r.sha256 for r in resources}
    assert hashlib.sha256(dropped).hexdigest() in hashes, [r.name for r in resources]
    tags = task.get_payload("tags")
    assert tags[0] == _verdict_tag(str(report["verdict"]))
    return str(report["verdict"])


def _check_mwdb(mwdb: Mwdb, sha: dict[str, str], verdicts: dict[str, str], pipe: Pipeline) -> None:
    """Both samples in MWDB with AASEE's tags and their dropped scripts as children."""
    children = {
        "dropper.sh": hashlib.sha256(DROPPER_PAYLOAD).hexdigest(),
        "stage1": hashlib.sha256(STAGE_TWO).hexdigest(),
    }
    expected_tags = {
        "dropper.sh": {"script:sh", _verdict_tag(verdicts["dropper.sh"]), "aasee:persistence_cron"},
        "stage1": {"runnable:openbsd:elf", _verdict_tag(verdicts["stage1"])},
    }

    def stored() -> bool:
        for name, digest in sha.items():
            found = mwdb.file(digest)
            if found is None or not expected_tags[name] <= _tags(found):
                return False
            if children[name] not in _children(found):
                return False
        return True

    wait_for(stored, 120, "MWDB to hold both samples, their tags and children", pipe)
    for name, digest in sha.items():
        found = mwdb.file(digest)
        assert found is not None
        assert "aasee:benign" not in _tags(found) or verdicts[name] == "benign"
        child = mwdb.file(children[name])
        assert child is not None
        assert {"aasee:dropped", "script:sh"} <= _tags(child), _tags(child)
        assert digest in {p["id"] for p in child.get("parents", [])}
        comments = mwdb.get(f"file/{digest}/comment") or []
        assert any(
            c["comment"].startswith("AASEE analysis ")
            and "report: http://aasee.test/analyses/" in c["comment"]
            for c in comments
        ), comments
