"""Injection through /proc/<pid>/mem: another process's memory opened for writing."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

MEM = re.compile(r"^/proc/(\d+)/(?:task/\d+/)?mem$")


class ProcMemoryInjection(Signature):
    id = "stealth_proc_memory_injection"
    name = "Writes into another process's memory through /proc"
    description = (
        "Opens /proc/<pid>/mem of another process for writing (or runs dd with such an "
        "output): code or data written straight into a running program, no ptrace call "
        "needed. A process's own memory is not counted."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1055.009",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("written", ("/proc/*/mem", "/proc/*/task/*/mem")):
            entry = MEM.match(found.item.path)
            process = ctx.process(found.process)
            own = {found.pid, *(process.threads if process else ())}
            if entry is not None and int(entry.group(1)) not in own:
                yield found.evidence(file_summary(found, "opened for writing"))
        for run in ctx.commands("dd"):
            if any(MEM.match(a[3:]) for a in run.item.args if a.startswith("of=")):
                yield run.evidence(command_summary(run))
