"""Benchmark: cold boot of the default guest vs a full `aasee analyze` of the demo sample.

    python bench/boot_and_analyze.py [--runs 3] [--timeout 10] [--json bench/results/x.json]

Both are measured in the same run on the same image; the analysis wall time is also given
as a ratio to the cold boot and as the overhead over the analysis timeout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from aasee.contexts.accel import choose_accel
from aasee.contexts.libvirt_qemu import GuestSpec, LibvirtQemuContext, QemuConfig
from aasee.guest.client import AgentClient
from aasee.images.builder import RECIPES, ImageBuilder
from aasee.images.store import aasee_home, cache_dir
from aasee.service.analysis import AnalysisOptions, run_analysis

DEMO = Path(__file__).resolve().parents[1] / "src/aasee/demo/dropper.sh"


def cold_boot(config: QemuConfig) -> float:
    """VM start to the agent answering a ping, through the same context analyses use."""
    context = LibvirtQemuContext(str(uuid.uuid4()), config)
    try:
        start = time.monotonic()
        context.poweron()
        with AgentClient(context.agent_socket) as agent:
            agent.connect(timeout=30)
            agent.wait_ready(180)
            elapsed = time.monotonic() - start
        context.poweroff()
        return elapsed
    finally:
        context.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    image = ImageBuilder(RECIPES["debian-bookworm-amd64"]).build()
    accel = choose_accel(image.kernel, "auto", cache_dir())
    config = QemuConfig(
        guest=GuestSpec(image.name, image.disk, image.kernel, image.initrd, image.cmdline),
        accel=accel,
        runs_dir=aasee_home() / "runs",
    )
    boots = [cold_boot(config) for _ in range(args.runs)]
    analyses = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.monotonic()
            run_analysis(DEMO, Path(tmp) / "out", AnalysisOptions(timeout=args.timeout))
            analyses.append(time.monotonic() - start)
    boot = statistics.median(boots)
    analyze = statistics.median(analyses)
    result = {
        "accel": accel.accel,
        "runs": args.runs,
        "timeout": args.timeout,
        "cold_boot_to_agent_s": [round(b, 2) for b in boots],
        "analyze_wall_s": [round(a, 2) for a in analyses],
        "cold_boot_median_s": round(boot, 2),
        "analyze_median_s": round(analyze, 2),
        "analyze_over_timeout_s": round(analyze - args.timeout, 2),
        "analyze_to_cold_boot_ratio": round(analyze / boot, 2),
    }
    print(f"{'measure':38} {'median':>8}   runs")
    print(f"{'cold boot -> agent ready (s)':38} {boot:8.2f}   {result['cold_boot_to_agent_s']}")
    print(
        f"{'analyze demo, timeout %.0f s (s)' % args.timeout:38} {analyze:8.2f}   "
        f"{result['analyze_wall_s']}"
    )
    print(f"{'analyze overhead over timeout (s)':38} {analyze - args.timeout:8.2f}")
    print(f"{'analyze / cold boot':38} {analyze / boot:8.2f}")
    print(f"accelerator: {accel.accel} ({accel.reason})")
    target = args.json or Path(__file__).parent / "results" / "boot_and_analyze.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"written {target}")


if __name__ == "__main__":
    main()
