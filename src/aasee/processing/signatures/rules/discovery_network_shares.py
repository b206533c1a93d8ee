"""Network share discovery: SMB and NFS shares listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SHARE_TOOLS = ("smbmap", "nmblookup", "nbtscan", "smbtree")
CONFIGS = ("/etc/exports", "/etc/samba/smb.conf", "/etc/auto.master", "/etc/auto.*")


class NetworkShareDiscovery(Signature):
    id = "discovery_network_shares"
    name = "Lists network shares"
    description = (
        "Runs smbclient -L, smbstatus --shares, showmount -e, smbmap, smbtree or nmblookup, "
        "or reads the export and Samba configuration with a text tool: shared folders on "
        "this and other hosts, where data and the next foothold may be."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1135",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("smbclient"):
            if any(a in ("-L", "--list") or a.startswith("--list=") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("smbstatus"):
            if {"-S", "--shares"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("showmount"):
            if {"-e", "--exports", "-a", "--all", "-d", "--directories"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*SHARE_TOOLS):
            if run.item.args and not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", CONFIGS):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
