"""Connections to the ports mining pools listen on (3333, 4444, 5555, 7777, 14444...)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import outcome
from ..models import Evidence
from ..query import ReportIndex

POOL_PORTS = (3333, 4444, 5555, 7777, 14433, 14444, 45560, 45700)


class MiningPoolPort(Signature):
    id = "impact_mining_pool_port"
    name = "Connects to a mining pool port"
    description = (
        "TCP connections to a remote host on a port mining pools use (3333, 4444, 5555, 7777, "
        "14433, 14444, 45560, 45700). Those ports serve other things too, hence medium."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1496.001",)
    families = ("coinminer",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.endpoints(POOL_PORTS):
            point = found.item
            if point.proto == "tcp" and ctx.is_public_destination(point.ip):
                yield found.evidence(f"connected to {point.ip} port {point.port}{outcome(point)}")
