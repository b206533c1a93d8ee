"""Benchmark: cold boot vs ready-snapshot restore, analysis overhead, sleep evasion, throughput.

    python bench/revert.py [--runs 3] [--timeout 10] [--samples 4] [--json FILE]

Everything is measured in one run on the same image; figures are given as ratios to the
cold boot (VM start to the agent answering) measured in this same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from aasee.contexts.accel import choose_accel
from aasee.contexts.libvirt_qemu import LibvirtQemuContext, QemuConfig
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.snapshots import Snapshot, find_snapshot
from aasee.guest.client import AgentClient
from aasee.images.builder import RECIPES, ImageBuilder
from aasee.images.store import cache_dir, snapshot_root
from aasee.service.analysis import AnalysisOptions, make_snapshot, qemu_config, run_analysis

DEMO = Path(__file__).resolve().parents[1] / "src/aasee/demo/dropper.sh"


def _until_agent(context: LibvirtQemuContext | QemuProcessContext, sample: bool) -> float:
    """VM start until the agent answers (or, with ``sample``, until a sample is running)."""
    start = time.monotonic()
    context.poweron()
    with AgentClient(context.agent_socket) as agent:
        agent.connect(timeout=30)
        agent.wait_ready(180)
        if sample:
            agent.set_time(time.time())
            agent.trace_start()
            agent.put(b"#!/bin/sh\nsleep 1\n", "/tmp/bench.sh")
            agent.execute(["/tmp/bench.sh"])
        elapsed = time.monotonic() - start
    context.poweroff()
    return elapsed


def measure(make: Callable[[], LibvirtQemuContext | QemuProcessContext], sample: bool) -> float:
    context = make()
    try:
        return _until_agent(context, sample)
    finally:
        context.cleanup()


def analyze_wall(sample: Path, timeout: float, revert: str = "auto") -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        result = run_analysis(
            sample, Path(tmp) / "out", AnalysisOptions(timeout=timeout, revert=revert)
        )
        return time.monotonic() - start, result.report


def throughput(samples: int, jobs: int, timeout: float) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda _i: analyze_wall(DEMO, timeout), range(samples)))
    return samples / (time.monotonic() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    image = ImageBuilder(RECIPES["debian-bookworm-amd64"]).build()
    options = AnalysisOptions()
    accel = choose_accel(image.kernel, options.accel, cache_dir())
    config: QemuConfig = qemu_config(image, options, accel)
    snapshot: Snapshot | None
    snapshot, _ = find_snapshot(snapshot_root(), image.name, image.inputs_key, config)
    if snapshot is None:
        snapshot = make_snapshot(options)
    snap = snapshot

    def cold() -> QemuProcessContext:
        # The cold boot analyses fall back to with the default (fake) network.
        return QemuProcessContext(str(uuid.uuid4()), config)

    def cold_libvirt() -> LibvirtQemuContext:
        return LibvirtQemuContext(str(uuid.uuid4()), replace(config, network="isolated"))

    def restore() -> QemuProcessContext:
        return QemuProcessContext(
            str(uuid.uuid4()), config, disk_base=snap.disk, state_file=snap.state
        )

    cold_boots = [measure(cold, False) for _ in range(args.runs)]
    libvirt_boots = [measure(cold_libvirt, False) for _ in range(args.runs)]
    restores = [measure(restore, False) for _ in range(args.runs)]
    restores_to_sample = [measure(restore, True) for _ in range(args.runs)]
    analyses = [analyze_wall(DEMO, args.timeout)[0] for _ in range(args.runs)]
    analyses_cold = [analyze_wall(DEMO, args.timeout, "cold")[0] for _ in range(args.runs)]
    sleeper = Path(tempfile.mkdtemp()) / "sleeper.sh"
    sleeper.write_text("#!/bin/sh\nsleep 600\necho late > /tmp/late.txt\n")
    sleep_wall, sleep_report = analyze_wall(sleeper, 60)
    late_seen = any(w["path"] == "/tmp/late.txt" for w in sleep_report["files"]["written"])
    rates = {jobs: throughput(args.samples, jobs, args.timeout) for jobs in (1, 2, 4)}

    cold_boot = statistics.median(cold_boots)
    result = {
        "accel": accel.accel,
        "runs": args.runs,
        "cold_boot_to_agent_s": [round(x, 3) for x in cold_boots],
        "libvirt_cold_boot_to_agent_s": [round(x, 3) for x in libvirt_boots],
        "restore_to_agent_s": [round(x, 3) for x in restores],
        "restore_to_sample_running_s": [round(x, 3) for x in restores_to_sample],
        "analyze_wall_s": [round(x, 3) for x in analyses],
        "analyze_cold_boot_wall_s": [round(x, 3) for x in analyses_cold],
        "analyze_timeout_s": args.timeout,
        "sleep600_wall_s": round(sleep_wall, 2),
        "sleep600_behaviour_seen": late_seen,
        "sleep600_guest_seconds": sleep_report["analysis"]["timings"].get("guest_run"),
        "throughput_samples_per_min": {str(k): round(v, 2) for k, v in rates.items()},
        "ratios_to_cold_boot": {
            "restore_to_agent": round(statistics.median(restores) / cold_boot, 3),
            "restore_to_sample_running": round(
                statistics.median(restores_to_sample) / cold_boot, 3
            ),
        },
    }
    rows = [
        ("cold boot -> agent ready", statistics.median(cold_boots), 1.0),
        (
            "cold boot via libvirt -> agent ready",
            statistics.median(libvirt_boots),
            statistics.median(libvirt_boots) / cold_boot,
        ),
        (
            "restore -> agent ready",
            statistics.median(restores),
            result["ratios_to_cold_boot"]["restore_to_agent"],
        ),
        (
            "restore -> sample running",
            statistics.median(restores_to_sample),
            result["ratios_to_cold_boot"]["restore_to_sample_running"],
        ),
        (
            f"analyze demo, T={args.timeout:.0f} s",
            statistics.median(analyses),
            statistics.median(analyses) / cold_boot,
        ),
        (
            f"analyze demo, T={args.timeout:.0f} s, cold boot",
            statistics.median(analyses_cold),
            statistics.median(analyses_cold) / cold_boot,
        ),
        ("analyze sleep(600) sample, T=60 s", sleep_wall, sleep_wall / cold_boot),
    ]
    print(f"{'measure':36} {'seconds':>9} {'x cold boot':>12}")
    for name, seconds, ratio in rows:
        print(f"{name:36} {seconds:9.3f} {ratio:12.3f}")
    print(f"analyze overhead over T: {statistics.median(analyses) - args.timeout:.2f} s")
    print(
        f"sleep(600) behaviour seen within 60 s: {late_seen} "
        f"(guest time {result['sleep600_guest_seconds']} s)"
    )
    for jobs, rate in rates.items():
        print(f"throughput, {args.samples} samples, {jobs} job(s): {rate:.2f} samples/min")
    print(f"accelerator: {accel.accel}")
    target = args.json or Path(__file__).parent / "results" / "revert.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"written {target}")


if __name__ == "__main__":
    main()
