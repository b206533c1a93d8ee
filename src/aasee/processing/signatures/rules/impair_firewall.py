"""Host firewall disabled or flushed: iptables -F/-X, policies set to ACCEPT, nft flush,
ufw disable, the firewall service stopped."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

IPTABLES = ("iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy", "iptables-nft",
            "ip6tables-nft", "xtables-legacy-multi", "xtables-nft-multi")  # fmt: skip
FLUSHING = frozenset({"-F", "--flush", "-X", "--delete-chain"})
OPENING = frozenset({"-A", "--append", "-I", "--insert", "-R", "--replace"})
DELETING = frozenset({"-D", "--delete"})
UFW_CHANGES = frozenset({"disable", "reset", "allow", "delete", "insert", "prepend"})
CONFIG = ("/etc/ufw/*", "/etc/default/ufw", "/etc/iptables/*", "/etc/sysconfig/iptables",
          "/etc/sysconfig/ip6tables", "/etc/firewalld/**", "/etc/nftables.conf",
          "/etc/nftables.d/*")  # fmt: skip
FIREWALL_SERVICES = frozenset(
    {"firewalld", "ufw", "iptables", "ip6tables", "nftables", "netfilter-persistent"}
)
STOPPING = frozenset({"stop", "disable", "mask", "kill"})


class FirewallDisable(Signature):
    id = "impair_firewall"
    name = "Disables or flushes the host firewall"
    description = (
        "Flushes iptables/ip6tables rules or chains, deletes rules, appends or inserts ACCEPT "
        "rules, sets a chain policy to ACCEPT, flushes or deletes nftables rules, disables, "
        "resets or opens ufw (allow, delete, logging off), opens firewalld ports or zones, "
        "rewrites the firewall's configuration files, or stops the firewall service. "
        "Package installations are not counted."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1686",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*IPTABLES):
            given = set(run.item.args)
            policy = bool({"-P", "--policy"} & given) and "ACCEPT" in given
            opening = bool(OPENING & given) and "ACCEPT" in given
            if FLUSHING & given or DELETING & given or policy or opening:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("nft"):
            args = run.item.args
            flushing = "flush" in args and bool({"ruleset", "table", "chain"} & set(args))
            if flushing or "delete" in args or ("accept" in args and "add" in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ufw"):
            args = run.item.args
            logging_off = args[-2:] == ("logging", "off")
            default_allow = "default" in args and "allow" in args
            if UFW_CHANGES & set(args) or logging_off or default_allow:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("firewall-cmd"):
            changes = ("--add-", "--remove-", "--panic-off", "--set-default-zone=trusted")
            if any(a.startswith(changes) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.modified(CONFIG):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("systemctl", "service", "chkconfig"):
            words = {a.removesuffix(".service") for a in run.item.args}
            if words & FIREWALL_SERVICES and words & (STOPPING | {"off"}):
                yield run.evidence(command_summary(run))
