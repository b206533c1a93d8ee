"""Internet connection discovery: ping or traceroute to the internet, what-is-my-IP and
connectivity-check services."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

PING_VALUED = frozenset({"-c", "-i", "-I", "-s", "-t", "-W", "-w", "-p", "-Q", "-l", "-M", "-m",
                         "-q", "-f", "-z"})  # fmt: skip
PROBES = (
    "ping",
    "ping6",
    "ping4",
    "traceroute",
    "traceroute6",
    "tracepath",
    "mtr",
    "tcptraceroute",
)
CHECK_SERVICES = frozenset(
    {"ifconfig.me", "icanhazip.com", "ipv4.icanhazip.com", "api.ipify.org", "api64.ipify.org",
     "ipinfo.io", "checkip.amazonaws.com", "ident.me", "v4.ident.me", "myexternalip.com",
     "wtfismyip.com", "ipecho.net", "checkip.dyndns.org", "ip.sb", "ifconfig.co",
     "ipaddr.site", "myip.opendns.com", "whatismyip.akamai.com", "connectivitycheck.gstatic.com",
     "detectportal.firefox.com", "www.msftconnecttest.com", "ipapi.co", "ip-api.com",
     "l2.io", "ip.tyk.nu", "eth0.me", "api.myip.com", "ipv4bot.whatismyipaddress.com"}
)  # fmt: skip


def _public(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host and host not in ("localhost",) and not host.endswith(".local")
    return address.is_global


class InternetConnectivityDiscovery(Signature):
    id = "discovery_internet_connectivity"
    name = "Checks for an internet connection"
    description = (
        "Pings or traces the route to an internet host (8.8.8.8, a public name), or asks a "
        "what-is-my-IP or connectivity-check service (ifconfig.me, api.ipify.org, "
        "icanhazip.com...): whether, and through which address, the host reaches the "
        "internet."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1016.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*PROBES):
            if any(_public(h) for h in operands(run.item, PING_VALUED)):
                yield run.evidence(command_summary(run))
        for name in ctx.dns_names:
            if name.item in CHECK_SERVICES:
                yield name.evidence(f"looked up {name.item}")
        for request in ctx.http():
            if (request.item.host or "").lower() in CHECK_SERVICES:
                yield request.evidence(f"{request.item.method} {request.item.url}")
