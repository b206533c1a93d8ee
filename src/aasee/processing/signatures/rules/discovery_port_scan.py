"""Port or host scanning: many ports of one host, or one port on many hosts."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Endpoint, Found, ReportIndex

DISTINCT = 20
IGNORED_PORTS = frozenset({53})


class PortScan(Signature):
    id = "discovery_port_scan"
    name = "Scans ports or hosts"
    description = (
        f"Sends to {DISTINCT} or more ports of one host, or to one port on {DISTINCT} or more "
        "hosts (DNS excepted): a network service scan."
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1046",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        by_host: dict[str, dict[int, Found[Endpoint]]] = {}
        by_port: dict[int, dict[str, Found[Endpoint]]] = {}
        for found in ctx.endpoints():
            point = found.item
            if point.port in IGNORED_PORTS:
                continue
            by_host.setdefault(point.ip, {}).setdefault(point.port, found)
            by_port.setdefault(point.port, {}).setdefault(point.ip, found)
        for ip, ports in by_host.items():
            if len(ports) >= DISTINCT:
                for port, found in ports.items():
                    yield found.evidence(f"{ip}: port {port} (one of {len(ports)} ports scanned)")
        for port, hosts in by_port.items():
            if len(hosts) >= DISTINCT:
                for ip, found in hosts.items():
                    yield found.evidence(f"port {port} on {ip} (one of {len(hosts)} hosts)")
