"""Bandwidth hijacking: proxyware that sells the host's connection."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

PROXYWARE = re.compile(
    r"^(honeygain|peer2profit|p2pclient|packetstream|psclient|traffmonetizer|pawns-cli|"
    r"iproyal|earnapp|repocket|proxyrack|bitping|bitpingd|myst|proxylite|speedshare|"
    r"packetshare|grass|mysterium)(\.exe)?$",
    re.IGNORECASE,
)


class BandwidthHijacking(Signature):
    id = "impact_bandwidth_hijacking"
    name = "Runs proxyware that sells the host's bandwidth"
    description = (
        "Runs a bandwidth-sharing client (Honeygain, Peer2Profit, PacketStream, "
        "TraffMonetizer, IPRoyal Pawns, EarnApp, Repocket, Mysterium...): strangers' traffic "
        "leaves through this host for someone else's profit."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1496.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.runs():
            name = posixpath.basename(run.item.path)
            if (
                PROXYWARE.match(name)
                and name.lower() != "tm"
                or (name.lower() == "tm" and "/traffmonetizer" in run.item.path.lower())
            ):
                yield run.evidence(run.item.summary)
