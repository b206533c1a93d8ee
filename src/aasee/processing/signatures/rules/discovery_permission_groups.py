"""Local permission groups discovered: groups, getent group, id -G, /etc/group read with a
text tool."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex


class PermissionGroupsDiscovery(Signature):
    id = "discovery_permission_groups"
    name = "Lists local groups and their members"
    description = (
        "Runs groups, getent group, id -G/-Gn, lid or members, or reads /etc/group or "
        "/etc/gshadow with a text tool: who belongs to sudo, wheel, docker and other groups "
        "that grant power. The C library reading /etc/group for ls -l is not counted."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1069.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("groups", "lid", "members", "libuser-lid"):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("getent"):
            if {"group", "gshadow"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("id"):
            if any(
                a.startswith("-") and not a.startswith("--") and "G" in a for a in run.item.args
            ):
                yield run.evidence(command_summary(run))
            elif "--groups" in run.item.args:
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/etc/group", "/etc/gshadow")):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
