"""Benchmark: cold boot vs ready-snapshot restore vs warm pool, analysis overhead, sleep
evasion, throughput.

    python bench/revert.py [--arch x86_64] [--runs 3] [--timeout 10] [--samples 4]
                           [--no-throughput] [--no-libvirt] [--json FILE]

Everything is measured in one run on the guest of one architecture; figures are given as
ratios to the cold boot (VM start to the agent answering) of that architecture measured in
this same run. The demo sample is a shell script, run in that architecture's guest.
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

from aasee.arch import ArchProfile, get_profile
from aasee.contexts.accel import choose_accel
from aasee.contexts.libvirt_qemu import LibvirtQemuContext
from aasee.contexts.qemu_config import QemuConfig
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.snapshots import Snapshot, find_snapshot
from aasee.contexts.warm_pool import WarmPool, set_active_pool
from aasee.guest.client import AgentClient
from aasee.guest.probes import plan_for
from aasee.images.builder import ImageBuilder, recipe_for
from aasee.images.store import GuestImage, cache_dir, snapshot_root
from aasee.service.analysis import (
    AnalysisOptions,
    make_snapshot,
    qemu_config,
    run_analysis,
    warm_target,
    warm_up_guest,
)

DEMO = Path(__file__).resolve().parents[1] / "src/aasee/demo/dropper.sh"


def _until_agent(
    context: LibvirtQemuContext | QemuProcessContext, profile: ArchProfile, sample: bool
) -> float:
    """VM start until the agent answers (or, with ``sample``, until a sample is running)."""
    start = time.monotonic()
    context.poweron()
    with AgentClient(context.agent_socket) as agent:
        agent.connect(timeout=30)
        agent.wait_ready(300)
        if sample:
            agent.set_time(time.time())
            # The plan the guest was armed with (a restored snapshot's seal): nothing re-arms.
            plan = plan_for(profile, seal=getattr(context, "trace_seal", None))
            agent.trace_start(
                plan.probes, plan.events, plan.filters, flood_budget=plan.flood_budget
            )
            agent.put(b"#!/bin/sh\nsleep 1\n", "/tmp/bench.sh")
            agent.execute(["/tmp/bench.sh"])
        elapsed = time.monotonic() - start
    context.poweroff()
    return elapsed


def measure(
    make: Callable[[], LibvirtQemuContext | QemuProcessContext], profile: ArchProfile, sample: bool
) -> float:
    context = make()
    try:
        return _until_agent(context, profile, sample)
    finally:
        context.cleanup()


def analyze_wall(
    sample: Path, image: str, timeout: float, revert: str = "auto"
) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        options = AnalysisOptions(timeout=timeout, revert=revert, image=image)  # type: ignore[arg-type]
        result = run_analysis(sample, Path(tmp) / "out", options)
        return time.monotonic() - start, result.report or {}


def dequeue_to_sample(image: str, revert: str, pool: WarmPool | None) -> float:
    """A worker's view: from taking the task (the call) to the sample running in the guest."""
    if pool is not None:
        deadline = time.monotonic() + 120
        while pool.warm_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        if pool.warm_count() == 0:
            raise SystemExit("the warm pool kept no VM warm within 120 s")
    with tempfile.TemporaryDirectory() as tmp:
        options = AnalysisOptions(timeout=5, revert=revert, image=image)  # type: ignore[arg-type]
        run_analysis(DEMO, Path(tmp) / "out", options, postprocess=False)
        run = json.loads((Path(tmp) / "out" / "run.json").read_text())
        if pool is not None and not run["boot"].startswith("warm VM"):
            raise SystemExit(f"the pooled run did not use a warm VM: {run['boot']}")
        return float(run["timings"]["call_to_sample"])


def dequeue_runs(image: GuestImage, runs: int) -> dict[str, list[float]]:
    """Dequeue -> sample running with a warm pool, with today's restore, with a cold boot."""
    results: dict[str, list[float]] = {
        "cold": [dequeue_to_sample(image.name, "cold", None) for _ in range(runs)],
        "restore": [dequeue_to_sample(image.name, "snapshot", None) for _ in range(runs)],
    }
    target = warm_target(image.name, AnalysisOptions(image=image.name))
    if target is None:
        raise SystemExit(f"{image.name} has no ready snapshot to keep warm")
    pool = WarmPool(warm_up=warm_up_guest)
    set_active_pool(pool)
    try:
        pool.keep_warm(target)
        results["pool"] = [dequeue_to_sample(image.name, "auto", pool) for _ in range(runs)]
    finally:
        set_active_pool(None)
        pool.close()
    return results


def throughput(samples: int, jobs: int, image: str, timeout: float) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda _i: analyze_wall(DEMO, image, timeout), range(samples)))
    return samples / (time.monotonic() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--arch", default="x86_64", help="Guest architecture to measure.")
    parser.add_argument(
        "--no-throughput", action="store_true", help="Skip the 1/2/4-job throughput runs."
    )
    parser.add_argument(
        "--no-libvirt", action="store_true", help="Skip the cold boots through libvirt."
    )
    args = parser.parse_args()

    profile = get_profile(args.arch)
    build_start = time.monotonic()
    image = ImageBuilder(recipe_for(profile)).build()
    build_seconds = time.monotonic() - build_start
    options = AnalysisOptions(image=image.name)
    accel = choose_accel(profile, image.kernel, options.accel, cache_dir())
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
            str(uuid.uuid4()),
            config,
            disk_base=snap.disk,
            state_file=snap.state,
            trace_seal=snap.trace_seal,
        )

    cold_boots = [measure(cold, profile, False) for _ in range(args.runs)]
    libvirt_boots = (
        [] if args.no_libvirt else [measure(cold_libvirt, profile, False) for _ in range(args.runs)]
    )
    restores = [measure(restore, profile, False) for _ in range(args.runs)]
    restores_to_sample = [measure(restore, profile, True) for _ in range(args.runs)]
    dequeue = dequeue_runs(image, args.runs)
    analyses = [analyze_wall(DEMO, image.name, args.timeout)[0] for _ in range(args.runs)]
    analyses_cold = [
        analyze_wall(DEMO, image.name, args.timeout, "cold")[0] for _ in range(args.runs)
    ]
    sleeper = Path(tempfile.mkdtemp()) / "sleeper.sh"
    sleeper.write_text("#!/bin/sh\nsleep 600\necho late > /tmp/late.txt\n")
    sleep_wall, sleep_report = analyze_wall(sleeper, image.name, 60)
    late_seen = any(w["path"] == "/tmp/late.txt" for w in sleep_report["files"]["written"])
    rates = (
        {}
        if args.no_throughput
        else {jobs: throughput(args.samples, jobs, image.name, args.timeout) for jobs in (1, 2, 4)}
    )

    cold_boot = statistics.median(cold_boots)
    dq = {kind: statistics.median(values) for kind, values in dequeue.items()}
    result = {
        "arch": profile.name,
        "image": image.name,
        "image_build_s": round(build_seconds, 2),
        "accel": accel.accel,
        "runs": args.runs,
        "cold_boot_to_agent_s": [round(x, 3) for x in cold_boots],
        "libvirt_cold_boot_to_agent_s": [round(x, 3) for x in libvirt_boots],
        "restore_to_agent_s": [round(x, 3) for x in restores],
        "restore_to_sample_running_s": [round(x, 3) for x in restores_to_sample],
        "dequeue_to_sample_running_s": {
            kind: [round(x, 3) for x in values] for kind, values in dequeue.items()
        },
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
            "dequeue_to_sample_pool": round(dq["pool"] / cold_boot, 3),
            "dequeue_to_sample_restore": round(dq["restore"] / cold_boot, 3),
            "dequeue_to_sample_cold": round(dq["cold"] / cold_boot, 3),
        },
        "pool_vs_restore_dequeue_to_sample": round(dq["pool"] / dq["restore"], 3),
    }
    rows = [
        ("cold boot -> agent ready", statistics.median(cold_boots), 1.0),
        *(
            [
                (
                    "cold boot via libvirt -> agent ready",
                    statistics.median(libvirt_boots),
                    statistics.median(libvirt_boots) / cold_boot,
                )
            ]
            if libvirt_boots
            else []
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
        ("dequeue -> sample running, cold boot", dq["cold"], dq["cold"] / cold_boot),
        ("dequeue -> sample running, restore", dq["restore"], dq["restore"] / cold_boot),
        ("dequeue -> sample running, warm pool", dq["pool"], dq["pool"] / cold_boot),
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
    print(f"{profile.name} guest {image.name}")
    print(f"{'measure':36} {'seconds':>9} {'x cold boot':>12}")
    for name, seconds, ratio in rows:
        print(f"{name:36} {seconds:9.3f} {ratio:12.3f}")
    print(f"warm pool vs restore, dequeue -> sample running: {dq['pool'] / dq['restore']:.3f} x")
    print(f"analyze overhead over T: {statistics.median(analyses) - args.timeout:.2f} s")
    print(
        f"sleep(600) behaviour seen within 60 s: {late_seen} "
        f"(guest time {result['sleep600_guest_seconds']} s)"
    )
    for jobs, rate in rates.items():
        print(f"throughput, {args.samples} samples, {jobs} job(s): {rate:.2f} samples/min")
    print(f"accelerator: {accel.accel}; image build (cached if fast): {build_seconds:.1f} s")
    target = args.json or Path(__file__).parent / "results" / f"revert-{profile.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"written {target}")


if __name__ == "__main__":
    main()
