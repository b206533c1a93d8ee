"""End to end in a real guest: the behaviour a sample shows must be in report.json."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import dpkt
import pytest

from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm


def _by_path(records: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("path") == path]


def _pcap_tcp_syns(path: Path) -> list[tuple[str, int]]:
    syns = []
    with path.open("rb") as handle:
        for _ts, frame in dpkt.pcap.Reader(handle):
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
                tcp = ip.data
                if tcp.flags & dpkt.tcp.TH_SYN and not tcp.flags & dpkt.tcp.TH_ACK:
                    syns.append((socket.inet_ntoa(ip.dst), tcp.dport))
    return syns


@pytest.mark.parametrize("revert", ["auto", "cold"], ids=["snapshot-restore", "cold-boot"])
def test_behaviour_program_is_fully_reported(
    guest_image: GuestImage,
    programs: dict[str, Path],
    tmp_path: Path,
    revert: str,
    no_leftovers: None,
) -> None:
    out = tmp_path / "analysis"
    result = run_analysis(programs["behaviour"], out, AnalysisOptions(timeout=12, revert=revert))
    report = result.report
    validate_report(report)
    for artefact in ("report.json", "trace.log", "network.pcap", "console.log", "analysis.log"):
        assert (out / artefact).is_file(), artefact
    assert report["analysis"]["accel"] in ("kvm", "tcg")
    assert report["sample"]["sha256"] and report["sample"]["size"] > 0

    procs = report["processes"]
    root = next(
        p
        for p in procs
        if p["image"] == "/tmp/behaviour" and p.get("ppid") not in {q["pid"] for q in procs}
    )
    root_pid = root["pid"]
    assert root["exit_code"] == 7
    # parent -> first child (exits at once) -> daemonized grandchild
    first = [p for p in procs if p.get("ppid") == root_pid]
    assert first, "the forked child is missing from the process tree"
    daemon = [p for p in procs if p.get("ppid") in {c["pid"] for c in first}]
    assert daemon, "the daemonized grandchild is missing from the process tree"
    daemon_pid = daemon[0]["pid"]

    files = report["files"]
    written = files["written"]
    assert any(w["pid"] == daemon_pid for w in _by_path(written, "/tmp/aasee-daemon.txt"))
    assert any(d["pid"] == daemon_pid for d in _by_path(files["deleted"], "/tmp/aasee-daemon.txt"))
    assert any(w["pid"] == root_pid for w in _by_path(written, "/tmp/aasee-written.txt"))
    assert any(d["pid"] == root_pid for d in _by_path(files["deleted"], "/tmp/aasee-deleted.txt"))
    renames = [r for r in files["renamed"] if r["pid"] == root_pid]
    assert any(
        r["src"] == "/tmp/aasee-written.txt" and r["dst"] == "/tmp/aasee-renamed.txt"
        for r in renames
    ), renames
    chmods = _by_path(files["chmod"], "/tmp/aasee-renamed.txt")
    assert any(c["mode"] == "0600" and c["pid"] == root_pid for c in chmods), chmods
    # The marker is written only when TracerPid is 0 and PTRACE_TRACEME succeeded.
    assert any(w["pid"] == root_pid for w in _by_path(written, "/tmp/aasee-untraced.marker"))
    assert "TracerPid: 0, PTRACE_TRACEME: 0" in report["output"]["stdout"]

    connections = report["network"]["connections"]
    assert any(
        c["dst_ip"] == "198.51.100.7" and c["dst_port"] == 4444 and c["pid"] == root_pid
        for c in connections
    ), connections
    assert ("198.51.100.7", 4444) in _pcap_tcp_syns(out / "network.pcap")


def test_self_deleting_disk_filling_sample_still_reported(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "wiper.sh"
    sample.write_text(
        "#!/bin/sh\n"
        'rm -f "$0"\n'
        "dd if=/dev/zero of=/fill bs=1M 2>/dev/null\n"
        "echo disk-full > /tmp/after-fill.txt\n"
        "sync\n"
    )
    out = tmp_path / "analysis"
    result = run_analysis(sample, out, AnalysisOptions(timeout=25))
    report = result.report
    validate_report(report)
    files = report["files"]
    assert _by_path(files["deleted"], "/tmp/wiper.sh"), files["deleted"]
    assert _by_path(files["written"], "/fill"), "the disk-filling write is missing"
    assert report["processes"], "no process recorded"
