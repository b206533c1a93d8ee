"""Network service scanning with a scanner: nmap, masscan, zmap, nc -z."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SCANNERS = ("nmap", "masscan", "zmap", "rustscan", "unicornscan", "naabu", "zgrab", "zgrab2",
            "sx", "pnscan", "nuclei", "nikto")  # fmt: skip
NOT_SCANNING = frozenset({"-h", "--help", "-V", "--version", "-sn", "-sP", "-sL", "-PR"})


class NetworkServiceScan(Signature):
    id = "discovery_network_service_scan"
    name = "Scans for network services with a scanner"
    description = (
        "Runs a port or service scanner (nmap, masscan, zmap, rustscan, naabu, nuclei...), "
        "hping3 in scan mode, or nc/ncat with -z (connect and close, port by port): which "
        "services listen where, to attack or spread to. (Host discovery alone, nmap -sn, is "
        "discovery_remote_systems.)"
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1046",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*SCANNERS):
            if run.item.args and not NOT_SCANNING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("nc", "ncat", "netcat", "nc.openbsd", "nc.traditional"):
            args = run.item.args
            if any(a.startswith("-") and not a.startswith("--") and "z" in a for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("hping3", "hping"):
            if {"--scan", "-8"} & set(run.item.args):
                yield run.evidence(command_summary(run))
