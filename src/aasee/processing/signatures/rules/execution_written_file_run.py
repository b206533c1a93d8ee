"""A program or script the sample wrote during the analysis is run (a compile and run looks
the same)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import written_path
from ..models import Evidence
from ..query import ReportIndex


class WrittenFileRun(Signature):
    id = "execution_written_file_run"
    name = "Runs a file it wrote"
    description = (
        "Executes a file that a process of the sample wrote earlier, or hands it to an "
        "interpreter as its script: a dropped payload, or simply a program it compiled or a "
        "script it generated. Informational on its own."
    )
    severity = "low"
    category = "execution"

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        written: dict[str, float] = {}
        for found in [*ctx.all_files("written"), *ctx.all_files("renamed")]:
            path = written_path(found.item)
            if found.item.ok is not False:
                written[path] = min(found.item.time, written.get(path, found.item.time))
        for run in ctx.runs():
            since = written.get(run.item.path)
            if since is not None and since <= run.item.time:
                yield run.evidence(f"{run.item.summary}, written during the analysis")
