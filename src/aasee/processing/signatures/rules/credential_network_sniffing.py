"""Network sniffing: packet capture tools run, interfaces put in promiscuous mode."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SNIFFERS = ("tcpdump", "tshark", "dumpcap", "tcpflow", "ngrep", "tcpick", "netsniff-ng",
            "dsniff", "termshark", "sniffglue", "snort", "pcapdump", "urlsnarf", "mailsnarf",
            "ettercap")  # fmt: skip
NOT_CAPTURING = frozenset({"-D", "--list-interfaces", "--version", "-V", "-h", "--help", "-v",
                           "-L", "--list-data-link-types", "-r", "--read-file"})  # fmt: skip


class NetworkSniffing(Signature):
    id = "credential_network_sniffing"
    name = "Captures network traffic"
    description = (
        "Runs a packet capture tool (tcpdump, tshark, dumpcap, ngrep, dsniff...) or puts an "
        "interface into promiscuous mode: passwords and session data sent in the clear are "
        "collected, and the network mapped. Listing interfaces or reading a capture file is "
        "not counted."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1040",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*SNIFFERS):
            if not NOT_CAPTURING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ip", "ifconfig"):
            args = run.item.args
            promisc = "promisc" in args and ("on" in args or run.item.name == "ifconfig")
            if promisc and "-promisc" not in args:
                yield run.evidence(command_summary(run))
