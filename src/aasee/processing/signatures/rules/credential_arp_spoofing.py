"""ARP cache poisoning: tools that put the host between others on the local network."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SPOOFERS = ("arpspoof", "bettercap", "arpoison", "mitmf", "larp", "dsniff")


class ArpSpoofing(Signature):
    id = "credential_arp_spoofing"
    name = "Poisons ARP caches"
    description = (
        "Runs arpspoof, bettercap, arpoison, or ettercap in ARP man-in-the-middle mode: "
        "traffic between other hosts of the network is routed through this one, to be read "
        "or changed."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1557.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*SPOOFERS):
            if run.item.args and not {"-h", "--help", "-v", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ettercap"):
            args = run.item.args
            mitm = [b for a, b in zip(args, args[1:], strict=False) if a in ("-M", "--mitm")]
            if any(m.startswith("arp") for m in mitm):
                yield run.evidence(command_summary(run))
