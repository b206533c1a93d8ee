"""System time discovery: the clock and time zone asked for."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex


class SystemTimeDiscovery(Signature):
    id = "discovery_system_time"
    name = "Reads the system time"
    description = (
        "Runs date (to print, not to set), timedatectl, hwclock -r or zdump: the host's "
        "clock and time zone, which malware uses to time its actions or to spot a sandbox "
        "whose clock is off. Informational: scripts print the date all the time."
    )
    severity = "info"
    category = "discovery"
    techniques = ("T1124",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("date"):
            if not any(a in ("-s", "--set") or a.startswith("--set=") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("timedatectl", "zdump"):
            if not run.item.args or run.item.args[0] in ("status", "show", "timesync-status"):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("hwclock"):
            if not run.item.args or {"-r", "--show", "--get"} & set(run.item.args):
                yield run.evidence(command_summary(run))
