"""Benchmark: setting up and tearing down one analysis network (namespace, tap, nftables)
and its fake internet, the per-analysis cost that the fake network adds; and the network of an
internet run (namespace, tap, veth uplink, NAT and host rules).

    python bench/network.py [--runs 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from aasee.contexts.libvirt_qemu import qemu_user
from aasee.contexts.network import SandboxNetwork
from aasee.contexts.uplink import InternetUplink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from aasee.hooks.fakenet.config import FakeNetConfig
    from aasee.hooks.fakenet.server import FakeInternet
    from aasee.hooks.network import _ServiceThread

    uid, gid = qemu_user()
    setups, teardowns, starts, stops = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            network = SandboxNetwork(str(uuid.uuid4()), uid, gid)
            t0 = time.monotonic()
            network.create()
            setups.append(time.monotonic() - t0)
            config = FakeNetConfig.model_validate(
                {
                    "dns_address": "10.0.2.3",
                    "service_address": "10.0.2.2",
                    "cert_dir": Path(tmp) / "tls",
                    "ftp_pasv_ports": (50000, 50099),
                }
            )
            thread = _ServiceThread(network.path, FakeInternet(config, Path(tmp) / "log"))
            t0 = time.monotonic()
            thread.start()
            thread.ready.wait(60)
            starts.append(time.monotonic() - t0)
            t0 = time.monotonic()
            thread.stop()
            stops.append(time.monotonic() - t0)
            t0 = time.monotonic()
            network.remove()
            teardowns.append(time.monotonic() - t0)
    internet_setups, internet_teardowns = _internet_runs(args.runs, uid, gid)
    result = {
        "runs": args.runs,
        "network_setup_s": round(statistics.median(setups), 3),
        "fake_internet_start_s": round(statistics.median(starts[1:] or starts), 3),
        "fake_internet_stop_s": round(statistics.median(stops), 3),
        "network_teardown_s": round(statistics.median(teardowns), 3),
        "first_start_s (creates the TLS certificate)": round(starts[0], 3),
        "internet_network_setup_s": round(statistics.median(internet_setups), 3),
        "internet_network_teardown_s": round(statistics.median(internet_teardowns), 3),
    }
    for key, value in result.items():
        print(f"{key:48} {value}")
    target = args.json or Path(__file__).parent / "results" / "network.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    print(f"written {target}")


def _internet_runs(runs: int, uid: int, gid: int) -> tuple[list[float], list[float]]:
    """The same for --network internet, leaving by one end of a veth pair that goes nowhere."""
    uplink_name = "aebenchup0"
    subprocess.run(
        ["ip", "link", "add", uplink_name, "type", "veth", "peer", "name", "aebenchup1"],
        check=True,
    )
    setups, teardowns = [], []
    try:
        uplink = InternetUplink(interface=uplink_name, dns="192.0.2.53")
        for _ in range(runs):
            network = SandboxNetwork(str(uuid.uuid4()), uid, gid, uplink=uplink)
            t0 = time.monotonic()
            network.create()
            setups.append(time.monotonic() - t0)
            t0 = time.monotonic()
            network.remove()
            teardowns.append(time.monotonic() - t0)
    finally:
        subprocess.run(["ip", "link", "del", uplink_name], check=False)
    return setups, teardowns


if __name__ == "__main__":
    main()
