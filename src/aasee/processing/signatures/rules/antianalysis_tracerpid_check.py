"""Debugger check: a process reads its own /proc status (where TracerPid is)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

OWN_STATUS = re.compile(r"^/proc/(self|thread-self|\d+)(/task/\d+)?/status$")


class TracerPidCheck(Signature):
    id = "antianalysis_tracerpid_check"
    name = "Reads its own process status (TracerPid)"
    description = (
        "Reads /proc/self/status or its own /proc/<pid>/status, where TracerPid tells "
        "whether a debugger is attached. Some runtimes do this for memory statistics, hence "
        "the low severity."
    )
    severity = "low"
    category = "anti-analysis"
    techniques = ("T1622",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", ("/proc/*/status", "/proc/*/task/*/status")):
            entry = OWN_STATUS.match(found.item.path)
            if entry is None:
                continue
            process = ctx.process(found.process)
            own = {"self", "thread-self"}
            if process is not None:
                own.update(str(t) for t in (process.pid, *process.threads))
            if found.pid is not None:
                own.add(str(found.pid))
            if entry.group(1) in own:
                yield found.evidence(file_summary(found, "read"))
