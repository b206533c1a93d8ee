"""Connections to a bare IP address on a high port: no DNS name behind the destination."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import outcome
from ..models import Evidence
from ..query import ReportIndex

HIGH = 1024


class RawIpHighPort(Signature):
    id = "c2_raw_ip_high_port"
    name = "Connects to an IP address that no DNS answer gave, on a high port"
    description = (
        f"A TCP connection to a remote address on port {HIGH} or above, where the address did "
        "not come from any DNS answer seen in the capture: a hard-coded controller. Decided "
        "only when the capture was analysed, or when the sample made no DNS query at all."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1571",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        network = ctx.report.network
        if not network.capture.analysed and (network.dns or network.dns_traffic):
            return  # names were looked up but their answers are unknown: cannot tell
        resolved = ctx.resolved_ips
        hardcoded = {ip for f in ctx.static_files() for ip in f.item.static.strings.ips}
        seen: set[tuple[str, int]] = set()
        for found in ctx.endpoints():
            point = found.item
            key = (point.ip, point.port)
            if (
                point.proto != "tcp"
                or point.port < HIGH
                or point.ip in resolved
                or key in seen
                or not ctx.is_public_destination(point.ip)
            ):
                continue
            seen.add(key)
            note = ", an address written in the sample" if point.ip in hardcoded else ""
            yield found.evidence(f"connected to {point.ip} port {point.port}{note}{outcome(point)}")
