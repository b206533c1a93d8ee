"""User discovery by explicit commands: id, whoami, who, last, getent passwd, cat /etc/passwd.

The C library reads /etc/passwd for every ``ls -l`` or ``id``; only explicit commands, or a
text tool reading the file, count."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

COMMANDS = ("id", "whoami", "who", "w", "users", "last", "lastlog", "groups", "logname", "finger")
TEXT_TOOLS = frozenset(
    {"cat", "less", "more", "head", "tail", "grep", "egrep", "awk", "gawk", "mawk", "cut", "sed"}
)


class UserDiscovery(Signature):
    id = "discovery_users"
    name = "Looks up users and groups"
    description = (
        "Runs id, whoami, who, last, groups or getent passwd/group, or reads /etc/passwd or "
        "/etc/group with a text tool (cat, grep, awk...): who the current user is, which "
        "accounts exist."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1033", "T1087.001")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*COMMANDS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("getent"):
            if {"passwd", "group", "shadow"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/etc/passwd", "/etc/group")):
            if basename(ctx.image_of(found.process)) in TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
