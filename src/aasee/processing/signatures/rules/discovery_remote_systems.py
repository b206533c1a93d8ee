"""Remote system discovery: ping sweeps, ARP and neighbour tables, host scanners, the hosts
files and SSH's known hosts read."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary, operands
from ..models import Evidence
from ..query import ReportIndex

PING_VALUED = frozenset({"-c", "-i", "-I", "-s", "-t", "-W", "-w", "-p", "-Q", "-l", "-M"})
SWEEPERS = ("fping", "arp-scan", "netdiscover", "nbtscan", "arping", "masscan")
SWEEP_HOSTS = 3
KNOWN_HOSTS = ("/root/.ssh/known_hosts", "/home/*/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
SSH_TOOLS = frozenset({"ssh", "scp", "sftp", "ssh-keygen", "ssh-keyscan", "git"})


class RemoteSystemDiscovery(Signature):
    id = "discovery_remote_systems"
    name = "Looks for other hosts on the network"
    description = (
        f"Pings {SWEEP_HOSTS} or more hosts (or a broadcast address), runs fping, arp-scan, "
        "netdiscover, nbtscan or nmap -sn, lists the ARP or neighbour table (arp -a, ip "
        "neigh, ip tcp_metrics), or reads /etc/hosts or SSH known hosts with a text tool: "
        "the next hosts to move to."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1018",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        pings = []
        targets: set[str] = set()
        for run in ctx.commands("ping", "ping6", "ping4"):
            hosts = operands(run.item, PING_VALUED)
            if "-b" in run.item.args or any(h.endswith(".255") for h in hosts):
                yield run.evidence(command_summary(run))
            pings.append(run)
            targets.update(hosts)
        if len(targets) >= SWEEP_HOSTS:
            for run in pings:
                yield run.evidence(f"{command_summary(run)} (one of {len(targets)} hosts)")
        for run in ctx.commands(*SWEEPERS):
            if run.item.args and not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("nmap"):
            if {"-sn", "-sP", "-PR", "-sL"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("arp"):
            if not run.item.args or {"-a", "-n", "-an", "-e"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ip"):
            words = [a for a in run.item.args if not a.startswith("-")]
            if words[:1] in (["neigh"], ["neighbour"], ["neighbor"], ["n"], ["tcp_metrics"]):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/etc/hosts", *KNOWN_HOSTS)):
            names = ctx.names(found.process)
            if names & TEXT_TOOLS and not names & SSH_TOOLS:
                yield found.evidence(file_summary(found, "read"))
