"""Benchmark: analyses per hour through the whole service (`aasee serve`) for 1, 2, 4, 8 slots.

    python bench/throughput.py [--slots 1 2 4 8] [--timeout 30] [--samples-per-slot 2]
                               [--early-end] [--json FILE]

For each slot count (sandbox workers, one VM each), a fresh service (its own database, queue
and storage; the host's guest images and ready snapshots) is started with `aasee serve`, N
distinct samples are submitted through the REST API at once, and the clock runs from the
first submission to the last report. Every run lasts its whole timeout unless `--early-end`
(the worst case: a sample that keeps running). The host budget (`contexts/host_budget.py`)
decides how many VMs actually run at once; CPU use (all cores) and memory in use (MemTotal -
MemAvailable) are sampled every second. Figures are ratios to the 1-slot rate of this same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aasee.images.store import aasee_home
from aasee.service.facade import TaskService
from aasee.service.settings import load_settings

DEMO = Path(__file__).resolve().parents[1] / "src/aasee/demo/dropper.sh"
DONE = ("reported", "failed")


@dataclass
class HostSampler:
    """CPU busy fraction and memory in use, sampled every second in a thread."""

    cpu: list[float] = field(default_factory=list)
    memory_mib: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @staticmethod
    def _cpu_times() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    @staticmethod
    def _used_mib() -> int:
        fields = {}
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                name, _, rest = line.partition(":")
                fields[name] = int(rest.split()[0])
        return (fields["MemTotal"] - fields["MemAvailable"]) >> 10

    def run(self) -> None:
        busy, total = self._cpu_times()
        while not self._stop.wait(1.0):
            busy2, total2 = self._cpu_times()
            if total2 > total:
                self.cpu.append((busy2 - busy) / (total2 - total))
            busy, total = busy2, total2
            self.memory_mib.append(self._used_mib())

    def __enter__(self) -> HostSampler:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(folder: Path) -> Path:
    service = folder / "service"
    config = folder / "aasee.toml"
    config.write_text(
        f'home = "{aasee_home()}"\n'
        f'database_url = "sqlite:///{service}/aasee.db"\n'
        f'queue_url = "sqlite:///{service}/queue.db"\n'
        f'storage_url = "file://{service}/storage"\n'
        f'scratch_dir = "{service}/scratch"\n'
    )
    return config


def one_round(slots: int, samples: int, timeout: float, early_end: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aasee-throughput-") as tmp:
        folder = Path(tmp)
        config = _config(folder)
        settings = load_settings(config)
        service = TaskService(settings)
        token = service.create_token(f"bench-{slots}")
        service.close()
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aasee.cli.main",
                "serve",
                "--config",
                str(config),
                "--workers",
                str(slots),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "serve.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            with httpx.Client(headers=headers, timeout=30) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if client.get(f"{base}/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"aasee serve did not come up: see {folder}/serve.log")
                    time.sleep(0.5)
                # Every worker has had its chance to warm a VM, as on a long-running host.
                time.sleep(5)
                demo = DEMO.read_bytes()
                with HostSampler() as sampler:
                    start = time.monotonic()
                    ids = []
                    for index in range(samples):
                        body = demo + f"# sample {index} of a {slots}-slot round\n".encode()
                        data = {"timeout": str(timeout)}
                        if not early_end:
                            data["full_timeout"] = "true"
                        reply = client.post(
                            f"{base}/tasks",
                            files={"file": (f"sample{index}.sh", body)},
                            data=data,
                        )
                        reply.raise_for_status()
                        ids.append(reply.json()["id"])
                    states: dict[str, str] = {}
                    limit = time.monotonic() + samples * (timeout + 120)
                    while len([s for s in states.values() if s in DONE]) < samples:
                        if time.monotonic() > limit:
                            raise SystemExit(f"tasks did not finish: {states}")
                        for task_id in ids:
                            if states.get(task_id) not in DONE:
                                states[task_id] = client.get(f"{base}/tasks/{task_id}").json()[
                                    "status"
                                ]
                        time.sleep(1)
                    wall = time.monotonic() - start
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(30)
    failed = sum(1 for s in states.values() if s == "failed")
    return {
        "slots": slots,
        "samples": samples,
        "failed": failed,
        "wall_s": round(wall, 1),
        "analyses_per_hour": round(samples / wall * 3600, 1),
        "cpu_busy_mean": round(statistics.mean(sampler.cpu or [0.0]), 3),
        "cpu_busy_max": round(max(sampler.cpu or [0.0]), 3),
        "memory_used_mib_max": max(sampler.memory_mib or [0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--samples-per-slot", type=int, default=2)
    parser.add_argument("--early-end", action="store_true", help="Let runs end early.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the service starts VMs and network namespaces")
    rounds = []
    for slots in args.slots:
        samples = max(2, args.samples_per_slot * slots)
        print(f"{slots} slot(s): {samples} samples at T={args.timeout:g} s ...", flush=True)
        rounds.append(one_round(slots, samples, args.timeout, args.early_end))
    base = float(rounds[0]["analyses_per_hour"])  # type: ignore[arg-type]
    print(
        f"{'slots':>5} {'samples':>7} {'failed':>6} {'wall s':>7} {'per hour':>9} "
        f"{'x 1 slot':>8} {'CPU mean':>8} {'CPU max':>7} {'mem MiB':>8}"
    )
    for r in rounds:
        rate = float(r["analyses_per_hour"])  # type: ignore[arg-type]
        print(
            f"{r['slots']:>5} {r['samples']:>7} {r['failed']:>6} {r['wall_s']:>7} {rate:>9.1f} "
            f"{rate / base:>8.2f} {r['cpu_busy_mean']:>8.0%} {r['cpu_busy_max']:>7.0%} "
            f"{r['memory_used_mib_max']:>8}"
        )
    result = {"timeout_s": args.timeout, "early_end": args.early_end, "rounds": rounds}
    target = args.json or Path(__file__).parent / "results" / "throughput.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"written {target}")


if __name__ == "__main__":
    main()
