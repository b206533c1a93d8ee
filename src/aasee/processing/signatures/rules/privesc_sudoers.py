"""Sudo rights changed: /etc/sudoers or /etc/sudoers.d written."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SUDOERS = ("/etc/sudoers", "/etc/sudoers.d/*", "/etc/sudoers.tmp")


class SudoersModification(Signature):
    id = "privesc_sudoers"
    name = "Changes sudo rights"
    description = (
        "Writes /etc/sudoers or a file in /etc/sudoers.d, or edits them with visudo. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "privilege-escalation"
    techniques = ("T1548.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(SUDOERS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("visudo"):
            if not {"-c", "--check"} & set(run.item.args):
                yield run.evidence(command_summary(run))
