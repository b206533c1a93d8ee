"""At persistence: a job queued with at or batch (or written to the at spool)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

AT_SPOOLS = ("/var/spool/cron/atjobs/**", "/var/spool/at/**", "/var/spool/atjobs/**")
# Listing, removing or showing jobs queues nothing.
NOT_QUEUING = frozenset({"-l", "-r", "-d", "-c", "-V", "--help", "--version"})


class AtJob(Signature):
    id = "persistence_at_job"
    name = "Schedules a program with at"
    description = (
        "Runs at or batch to queue a job, or writes a job file into the at spool: the "
        "command runs later, detached from the sample, as the user who queued it. Listing "
        "(atq, at -l) or removing jobs is not counted."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1053.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("at", "batch"):
            if not NOT_QUEUING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.modified(AT_SPOOLS):
            name = written_path(found.item)
            if not name.endswith((".SEQ", "/.SEQ")):
                yield found.evidence(file_summary(found))
