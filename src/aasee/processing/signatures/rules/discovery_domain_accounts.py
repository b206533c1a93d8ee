"""Directory (domain) accounts and groups enumerated: LDAP queries, Samba and winbind
tools."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

TOOLS = ("ldapdomaindump", "windapsearch", "enum4linux", "enum4linux-ng", "bloodhound-python",
         "rpcclient", "adidnsdump")  # fmt: skip
WBINFO = frozenset({"-u", "-g", "--domain-users", "--domain-groups", "--user-groups",
                    "--group-info", "--all-domains", "-m", "--trusted-domains"})  # fmt: skip


class DomainAccountDiscovery(Signature):
    id = "discovery_domain_accounts"
    name = "Enumerates directory accounts and groups"
    description = (
        "Runs ldapsearch, ldapdomaindump, windapsearch, enum4linux, rpcclient or "
        "bloodhound-python, lists users and groups with wbinfo, net ads or samba-tool, or "
        "adcli/realm: the accounts and groups of an Active Directory or LDAP domain."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1087.002", "T1069.002")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("ldapsearch", *TOOLS):
            if run.item.args and not {"--help", "-h", "-V"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("wbinfo"):
            if WBINFO & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("net", "samba-tool"):
            args = run.item.args
            if {"user", "group", "users", "groups"} & set(args) and "add" not in args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("realm", "adcli"):
            if {"list", "discover", "info"} & set(run.item.args):
                yield run.evidence(command_summary(run))
