"""Debugger check: a process reads its own /proc status (where TracerPid is), or greps for
TracerPid. A process listing (ps, pgrep, top, or any program reading the /proc entries of
many processes) reads every status, its own included: that is not a check."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

OWN_STATUS = re.compile(r"^/proc/(self|thread-self|\d+)(/task/\d+)?/status$")
LOOKERS = ("grep", "egrep", "fgrep", "awk", "gawk", "mawk", "sed", "cut", "rg")


class TracerPidCheck(Signature):
    id = "antianalysis_tracerpid_check"
    name = "Reads its own process status (TracerPid)"
    description = (
        "Reads /proc/self/status or its own /proc/<pid>/status, where TracerPid tells "
        "whether a debugger is attached, or greps a status file for TracerPid. A process "
        "listing (ps, pgrep, top, or a program reading the /proc entries of five or more "
        "processes) reads every status and is not counted. Some runtimes read their own "
        "status for memory statistics, hence the low severity."
    )
    severity = "low"
    category = "anti-analysis"
    techniques = ("T1622",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        scanners = ctx.proc_scanners
        for found in ctx.files("read", ("/proc/*/status", "/proc/*/task/*/status")):
            entry = OWN_STATUS.match(found.item.path)
            if entry is None or found.process in scanners:
                continue
            process = ctx.process(found.process)
            own = {"self", "thread-self"}
            if process is not None:
                own.update(str(t) for t in (process.pid, *process.threads))
            if found.pid is not None:
                own.add(str(found.pid))
            if entry.group(1) in own:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands(*LOOKERS):
            if any("tracerpid" in arg.lower() for arg in run.item.args):
                yield run.evidence(command_summary(run))
