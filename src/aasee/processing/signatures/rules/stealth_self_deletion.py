"""Self-deletion: the sample (or a process it started) deletes a program file it ran."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import outcome
from ..models import Evidence
from ..query import ReportIndex


class SelfDeletion(Signature):
    id = "stealth_self_deletion"
    name = "Deletes its own program file"
    description = (
        "Unlinks a file that the deleting process, or one of its ancestors, executed (or gave "
        "an interpreter as its script): the sample removes its own binary or script so it "
        "keeps running with nothing on disk."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1070.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.all_files("deleted"):
            item = found.item
            if item.op != "unlink":
                continue
            for process in ctx.lineage(found.process):
                if item.path in ctx.programs(process.key):
                    who = "itself" if process.key == found.process else f"pid {process.pid}"
                    yield found.evidence(
                        f"deleted {item.path}, the program of {who}{outcome(item)}"
                    )
                    break
