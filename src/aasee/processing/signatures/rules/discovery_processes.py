"""Process discovery: ps and friends run, or other processes' /proc entries scanned."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

COMMANDS = ("ps", "pgrep", "pidof", "top", "htop", "pstree", "pkill", "killall")
PROC_ENTRY = re.compile(r"^/proc/(\d+)/(cmdline|comm|status|stat|exe|environ|maps)$")
SCANNED = 5


class ProcessDiscovery(Signature):
    id = "discovery_processes"
    name = "Lists running processes"
    description = (
        f"Runs ps, pgrep, pidof, top, pkill or killall, or reads the /proc entries "
        f"(cmdline, status, exe...) of {SCANNED} or more processes outside its own tree: "
        "looking for other programs, often to kill competitors or find security tools."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1057",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*COMMANDS):
            yield run.evidence(command_summary(run))
        own = {p.pid for p in ctx.report.processes}
        own.update(t for p in ctx.report.processes for t in p.threads)
        scans = []
        for found in ctx.files("read", ("/proc/[0-9]*/*",)):
            entry = PROC_ENTRY.match(found.item.path)
            if entry is None or int(entry.group(1)) in own:
                continue
            if basename(ctx.image_of(found.process)) in COMMANDS:
                continue  # ps reading /proc is already the ps evidence
            scans.append((int(entry.group(1)), found))
        if len({pid for pid, _ in scans}) >= SCANNED:
            for _, found in scans:
                yield found.evidence(file_summary(found, "read"))
