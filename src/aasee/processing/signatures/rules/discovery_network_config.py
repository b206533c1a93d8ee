"""Network configuration gathered: interfaces, routes, connections, ARP table."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

COMMANDS = ("ifconfig", "route", "netstat", "ss", "arp", "iwconfig", "nmcli", "ethtool")
IP_OBJECTS = frozenset(
    {"a", "addr", "address", "r", "route", "l", "link", "n", "neigh", "neighbor"}
)
FILES = ("/proc/net/*", "/proc/self/net/*", "/sys/class/net/**")


class NetworkConfigurationDiscovery(Signature):
    id = "discovery_network_config"
    name = "Gathers network configuration"
    description = (
        "Runs ifconfig, ip addr/route/link/neigh, route, netstat, ss or arp, or reads "
        "/proc/net/* or /sys/class/net: the interfaces, addresses, routes and connections of "
        "the host. (The resolver reading /etc/resolv.conf or /etc/hosts is not counted.)"
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1016",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*COMMANDS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("ip"):
            if IP_OBJECTS & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("hostname"):
            if {"-I", "-i", "--all-ip-addresses"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", FILES):
            yield found.evidence(file_summary(found, "read"))
