"""API latency under concurrent clients: list and status against the health baseline.

Starts the real web app under uvicorn (one server process, as ``aasee serve`` runs it) on a
temporary home whose SQLite database holds ``--tasks`` tasks (1000 by default), then sends
``--requests`` authenticated requests per endpoint from ``--clients`` concurrent clients on
loopback (50 by default), endpoint after endpoint:

- ``health``  GET /api/v1/health  (baseline: auth + a ping of database, queue and storage)
- ``list``    GET /api/v1/tasks?limit=50  (a page of the newest tasks and the total count)
- ``status``  GET /api/v1/tasks/{id}  (a random task)

and prints p50/p95/p99 per endpoint with their ratio to the health baseline of the same run;
the figures go to ``bench/results/api_latency.json``. Client and server share this machine's
cores, so absolute numbers include the client's own cost; the ratios are what compare.

    .venv/bin/python bench/api_latency.py [--tasks 1000] [--clients 50] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.settings import Settings

RESULTS = Path(__file__).parent / "results" / "api_latency.json"
IMAGE = "debian-bookworm-amd64"


def _register_image(home: Path) -> None:
    # Metadata of a guest image so the tasks are accepted as pending (no VM is started here).
    images = home / "images"
    images.mkdir(parents=True)
    fields = {
        "name": IMAGE,
        "arch": "x86_64",
        "os": "debian-12",
        "kernel_release": "bench",
        "cmdline": "",
        "disk": str(images / "d"),
        "kernel": str(images / "k"),
        "initrd": str(images / "i"),
        "agent_version": "bench",
        "inputs_key": "bench",
        "built_at": "2024-01-01T00:00:00Z",
    }
    (images / f"{IMAGE}.json").write_text(json.dumps(fields))


def _populate(home: Path, count: int) -> tuple[str, list[str]]:
    service = TaskService(Settings.model_validate({"home": home}))
    try:
        token = service.create_token("bench")
        ids = []
        for index in range(count):
            options = SubmitOptions.model_validate({"timeout": 10 + index % 50})
            data = f"#!/bin/sh\necho bench sample {index}\n".encode()
            ids.append(service.submit(data, f"sample-{index}.sh", options).id)
        return token, ids
    finally:
        service.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AASEE_HOME": str(home), "AASEE_CONFIG": str(home / "none.toml")}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "aasee.web.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(argv, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start listening within 30 s")


async def _phase(
    base: str, token: str, paths: list[str], clients: int, deadline_s: float
) -> dict[str, Any]:
    """Send every path once, ``clients`` at a time; latencies in milliseconds."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    stop_at = time.monotonic() + deadline_s
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:

        async def client() -> None:
            while time.monotonic() < stop_at:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    response = await http.get(path)
                    key = str(response.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append((time.perf_counter() - start) * 1000)
                if key != "200":
                    errors[key] = errors.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p95_ms": round(pct(0.95), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks in the database")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--max-seconds", type=float, default=120, help="cap per endpoint")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aasee-bench-") as tmp:
        home = Path(tmp) / "home"
        _register_image(home)
        print(f"populating {args.tasks} tasks ...", flush=True)
        token, ids = _populate(home, args.tasks)
        port = _free_port()
        server = _start_server(home, port)
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(6)
        phases = {
            "health": ["/api/v1/health"] * args.requests,
            "list": ["/api/v1/tasks?limit=50"] * args.requests,
            "status": [f"/api/v1/tasks/{rng.choice(ids)}" for _ in range(args.requests)],
        }
        results: dict[str, Any] = {}
        try:
            asyncio.run(_phase(base, token, ["/api/v1/health"] * 100, args.clients, 30))  # warm-up
            for name, paths in phases.items():
                results[name] = asyncio.run(
                    _phase(base, token, paths, args.clients, args.max_seconds)
                )
        finally:
            server.terminate()
            server.wait(30)

    baseline = results["health"]
    for figures in results.values():
        for key in ("p50", "p95", "p99"):
            figures[f"{key}_ratio_to_health"] = round(
                figures[f"{key}_ms"] / baseline[f"{key}_ms"], 2
            )
    print(
        f"\n{args.clients} concurrent clients, {args.tasks} tasks in SQLite, one uvicorn "
        f"process, loopback; {os.cpu_count()} cores shared by client and server\n"
    )
    header = f"{'endpoint':<8} {'reqs':>5} {'rps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    print(header + f" {'p50/health':>10} {'p99/health':>10} errors")
    for name, f in results.items():
        print(
            f"{name:<8} {f['requests']:>5} {f['throughput_rps']:>7} {f['p50_ms']:>8} "
            f"{f['p95_ms']:>8} {f['p99_ms']:>8} {f['p50_ratio_to_health']:>10} "
            f"{f['p99_ratio_to_health']:>10} {f['errors'] or '-'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "clients": args.clients,
                "tasks": args.tasks,
                "requests_per_endpoint": args.requests,
                "cores": os.cpu_count(),
                "server": "uvicorn, 1 process, aasee.web.app:create_app_from_env",
                "database": "sqlite",
                "endpoints": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
