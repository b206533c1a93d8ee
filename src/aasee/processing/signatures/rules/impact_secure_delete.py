"""Files shredded: shred, srm or wipe run to make deleted data unrecoverable."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex


class SecureDelete(Signature):
    id = "impact_secure_delete"
    name = "Shreds files"
    description = (
        "Runs shred, srm or wipe: file contents overwritten before deletion so nothing can be "
        "recovered (destruction, or evidence removal)."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1485",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("shred", "srm", "wipe"):
            if any(not a.startswith("-") for a in run.item.args):
                yield run.evidence(command_summary(run))
