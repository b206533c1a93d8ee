"""Memory evidence wiped: page cache dropped, swap turned off."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex


class MemoryForensicsImpaired(Signature):
    id = "impair_memory_forensics"
    name = "Drops caches or turns swap off"
    description = (
        "Writes /proc/sys/vm/drop_caches (or sysctl vm.drop_caches), or runs swapoff: what "
        "the page cache and swap held of recent files and processes, which memory forensics "
        "and some monitoring tools read, is thrown away."
    )
    severity = "medium"
    category = "defense-impairment"
    techniques = ("T1685",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.kernel_settings():
            if found.item.name == "vm.drop_caches":
                yield found.evidence(found.item.summary)
        for run in ctx.commands("swapoff"):
            if run.item.args and not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
