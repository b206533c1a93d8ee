"""Network floods: one destination hammered with packets or connections, or a flooding tool
run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

FLOOD = 500
FLOOD_PACKETS = 5000
TOOLS = ("hping3", "hping", "slowhttptest", "slowloris", "t50", "mz", "thc-ssl-dos",
         "goldeneye", "hulk", "xerxes", "torshammer")  # fmt: skip


class NetworkFlood(Signature):
    id = "impact_network_flood"
    name = "Floods a network destination"
    description = (
        f"{FLOOD} or more UDP sends or TCP connection attempts to one address and port (DNS "
        f"excepted), an outbound flow of {FLOOD_PACKETS} or more packets that got little "
        "back, or a flooding tool (hping3 --flood, slowhttptest, t50...): a denial-of-service "
        "attack, the trade of DDoS bots."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1498.001",)
    families = ("botnet",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        totals: dict[tuple[str, int, str], int] = {}
        first: dict[tuple[str, int, str], Found[Any]] = {}
        network = ctx.report.network
        for i, c in enumerate(network.connections):
            key = (c.dst_ip, c.dst_port, "tcp")
            totals[key] = totals.get(key, 0) + c.count
            first.setdefault(key, Found(c, pointer("network", "connections", i), c.process, c.pid))
        for i, u in enumerate(network.udp):
            key = (u.dst_ip, u.dst_port, "udp")
            totals[key] = totals.get(key, 0) + u.count
            first.setdefault(key, Found(u, pointer("network", "udp", i), u.process, u.pid))
        for key, total in totals.items():
            ip, port, proto = key
            if total >= FLOOD and port != 53:
                yield first[key].evidence(f"{total} {proto} sends or attempts to {ip} port {port}")
        for i, flow in enumerate(network.flows):
            lopsided = flow.dst_packets * 20 < flow.src_packets
            if flow.direction == "outbound" and flow.src_packets >= FLOOD_PACKETS and lopsided:
                found = Found(flow, pointer("network", "flows", i), flow.process, flow.pid)
                yield found.evidence(
                    f"sent {flow.src_packets} packets to {flow.dst_ip} port {flow.dst_port}, "
                    f"received {flow.dst_packets}"
                )
        for run in ctx.commands(*TOOLS):
            args = set(run.item.args)
            if run.item.name.startswith("hping") and not args & {"--flood", "--faster", "-i"}:
                continue
            if run.item.args and not args & {"-h", "--help", "-v", "--version"}:
                yield run.evidence(command_summary(run))
