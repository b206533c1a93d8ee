"""Tor: the Tor client run, Tor relay or SOCKS ports used, .onion names looked up or embedded."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, outcome
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

TOR_PORTS = (9001, 9030, 9050, 9051, 9150, 9151)
TOR_PROGRAMS = ("tor", "torify", "torsocks")


class TorUse(Signature):
    id = "c2_tor"
    name = "Uses the Tor network"
    description = (
        "Runs tor or torsocks, connects to Tor's relay, directory or SOCKS ports (9001, 9030, "
        "9050, 9150...), or looks up or carries a .onion address: a controller hidden behind "
        "Tor."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1090.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*TOR_PROGRAMS):
            yield run.evidence(command_summary(run))
        for found in ctx.endpoints(TOR_PORTS):
            if found.item.proto == "tcp":
                point = found.item
                yield found.evidence(f"connected to {point.ip} port {point.port}{outcome(point)}")
        for name in ctx.dns_names:
            if name.item.endswith(".onion"):
                yield name.evidence(f"looked up {name.item}")
        for static in ctx.static_files():
            strings = static.item.static.strings
            for field in ("domains", "urls"):
                for i, value in enumerate(getattr(strings, field)):
                    if ".onion" in value.lower():
                        ref = static.ref + pointer("strings", field, i)
                        found = Found(value, ref, static.process, static.pid)
                        yield found.evidence(f"{static.item.label} contains {value}")
