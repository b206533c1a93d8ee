"""Cron persistence: a crontab or a file of the cron directories written, or ``crontab`` fed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

CRON_PATHS = (
    "/etc/crontab",
    "/etc/anacrontab",
    "/etc/cron.d/**",
    "/etc/cron.hourly/**",
    "/etc/cron.daily/**",
    "/etc/cron.weekly/**",
    "/etc/cron.monthly/**",
    "/var/spool/cron/**",
)
# at keeps its queue under /var/spool/cron on Debian: persistence_at_job judges it.
AT_SPOOLS = ("/var/spool/cron/atjobs/", "/var/spool/cron/atspool/")
# Listing or removing a crontab installs nothing.
READ_ONLY = frozenset({"-l", "-r", "-i", "-V", "--help"})


class CronPersistence(Signature):
    id = "persistence_cron"
    name = "Installs a cron job"
    description = (
        "Writes /etc/crontab, a file under /etc/cron.* or a user crontab under /var/spool/cron, "
        "or runs crontab to install one: the program will be run again on a schedule. "
        "Package installations are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1053.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(CRON_PATHS):
            path = written_path(found.item)
            if not path.startswith(AT_SPOOLS) and not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("crontab"):
            if not READ_ONLY & set(run.item.args):
                yield run.evidence(command_summary(run))
