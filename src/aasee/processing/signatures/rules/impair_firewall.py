"""Host firewall disabled or flushed: iptables -F/-X, policies set to ACCEPT, nft flush,
ufw disable, the firewall service stopped."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

IPTABLES = ("iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft",
            "ip6tables-nft", "xtables-legacy-multi", "xtables-nft-multi")  # fmt: skip
FLUSHING = frozenset({"-F", "--flush", "-X", "--delete-chain"})
FIREWALL_SERVICES = frozenset(
    {"firewalld", "ufw", "iptables", "ip6tables", "nftables", "netfilter-persistent"}
)
STOPPING = frozenset({"stop", "disable", "mask", "kill"})


class FirewallDisable(Signature):
    id = "impair_firewall"
    name = "Disables or flushes the host firewall"
    description = (
        "Flushes iptables/ip6tables rules or chains, sets a chain policy to ACCEPT, flushes "
        "the nftables ruleset, disables ufw, or stops the firewall service."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1686",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*IPTABLES):
            args = run.item.args
            accept = any(a in ("-P", "--policy") for a in args) and "ACCEPT" in args
            if FLUSHING & set(args) or accept:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("nft"):
            args = run.item.args
            if ("flush" in args and "ruleset" in args) or ("delete" in args and "table" in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ufw"):
            if {"disable", "reset"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl", "service", "chkconfig"):
            words = {a.removesuffix(".service") for a in run.item.args}
            if words & FIREWALL_SERVICES and words & (STOPPING | {"off"}):
                yield run.evidence(command_summary(run))
