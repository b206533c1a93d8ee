"""Data cut into chunks of a fixed size before it is sent."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SIZING = ("-b", "--bytes", "-C", "--line-bytes", "-n", "--number")


class SplitFile(Signature):
    id = "exfil_split_file"
    name = "Splits data into fixed-size chunks"
    description = (
        "Runs split by size (-b, -C, -n): data cut into pieces small enough to pass size "
        "limits and alerts on large transfers. Splitting by lines is not counted."
    )
    severity = "low"
    category = "exfiltration"
    techniques = ("T1030",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("split"):
            sized = any(
                a.split("=", 1)[0] in SIZING or (a[:2] in SIZING and not a.startswith("--"))
                for a in run.item.args
            )
            if sized:
                yield run.evidence(command_summary(run))
