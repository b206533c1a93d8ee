"""Sudo rights looked up: sudo -l, or the sudoers files read by a text tool."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SUDOERS = ("/etc/sudoers", "/etc/sudoers.d/*")


class SudoRightsCheck(Signature):
    id = "privesc_sudo_rights_check"
    name = "Looks up what sudo allows"
    description = (
        "Runs sudo -l (the commands the user may run as root, and whether a password is "
        "asked), or reads /etc/sudoers or /etc/sudoers.d with a text tool: the first step to "
        "abusing sudo. sudo and visudo reading their own configuration are not counted."
    )
    severity = "low"
    category = "privilege-escalation"
    techniques = ("T1548.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("sudo"):
            args = run.item.args
            listing = any(a in ("-l", "-ll", "--list") for a in args)
            if listing or (args and args[0].startswith("-") and "l" in args[0].lstrip("-")):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", SUDOERS):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
