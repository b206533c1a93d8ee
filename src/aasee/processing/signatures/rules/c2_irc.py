"""IRC: connections to IRC server ports, the classic botnet control channel."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import outcome
from ..models import Evidence
from ..query import ReportIndex

IRC_PORTS = (194, 6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 6697, 7000)


class IrcChannel(Signature):
    id = "c2_irc"
    name = "Connects to an IRC server port"
    description = (
        "TCP connections to the IRC ports (6660-6669, 6697, 7000, 194): IRC is how many Linux "
        "bots (Tsunami/Kaiten and kin) receive orders."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1071",)
    families = ("botnet",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.endpoints(IRC_PORTS):
            point = found.item
            if point.proto == "tcp" and ctx.is_public_destination(point.ip):
                yield found.evidence(f"connected to {point.ip} port {point.port}{outcome(point)}")
