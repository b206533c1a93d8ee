"""File attributes changed with chattr: immutable or append-only set or cleared."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

IMMUTABLE = re.compile(r"^[-+=][A-Za-z]*[ia][A-Za-z]*$")


class ImmutableAttribute(Signature):
    id = "impair_immutable_attribute"
    name = "Sets or clears the immutable attribute of files"
    description = (
        "Runs chattr +i/-i or +a/-a: a file made immutable cannot be removed or cleaned even "
        "by root (persistence that resists cleanup); clearing it frees another's file to be "
        "replaced."
    )
    severity = "medium"
    category = "defense-impairment"
    techniques = ("T1222.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("chattr"):
            if any(IMMUTABLE.match(arg) for arg in run.item.args):
                yield run.evidence(command_summary(run))
