"""Setuid/setgid bits set on a file (a root shell left behind)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import mode_value, outcome
from ..models import Evidence
from ..query import ReportIndex

SETID = 0o6000


class SetuidSetgid(Signature):
    id = "privesc_setuid_setgid"
    name = "Sets the setuid or setgid bit on a file"
    description = (
        "chmod (or a file creation) with the setuid/setgid bit: whoever runs the file runs it "
        "as its owner, typically root."
    )
    severity = "high"
    category = "privilege-escalation"
    techniques = ("T1548.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.all_files("chmod"):
            mode = mode_value(found.item.mode)
            if mode is not None and mode & SETID:
                yield found.evidence(
                    f"chmod {found.item.mode} {found.item.path}{outcome(found.item)}"
                )
        for found in ctx.all_files("created"):
            mode = mode_value(found.item.mode)
            if mode is not None and mode & SETID:
                yield found.evidence(f"created {found.item.path} with mode {found.item.mode}")
