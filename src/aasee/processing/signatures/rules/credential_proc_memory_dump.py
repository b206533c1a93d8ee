"""Credential dumping from /proc: another process's memory read through /proc/<pid>/mem
(after its maps), or a tool that does it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

ENTRY = re.compile(r"^/proc/(\d+)/(?:task/\d+/)?(mem|maps)$")
TOOLS = ("mimipenguin", "mimipenguin.sh", "mimipenguin.py", "3snake", "linikatz", "linikatz.sh",
         "gcore", "memdump", "swap_digger", "swap_digger.sh")  # fmt: skip


class ProcMemoryDump(Signature):
    id = "credential_proc_memory_dump"
    name = "Reads another process's memory through /proc"
    description = (
        "Reads /proc/<pid>/mem of another process (its /proc/<pid>/maps, read first to find "
        "the heap and stack, is shown with it), for example dd if=/proc/PID/mem, or runs a "
        "memory-scraping tool (mimipenguin, gcore, 3snake): passwords and keys lifted from "
        "a running program's memory. A process's own memory is not counted."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1003.007",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        dumped: set[str | None] = set()
        maps = []
        for found in ctx.files("read", ("/proc/*/mem", "/proc/*/maps", "/proc/*/task/*/mem")):
            entry = ENTRY.match(found.item.path)
            process = ctx.process(found.process)
            own = {found.pid, *(process.threads if process else ())}
            if entry is None or int(entry.group(1)) in own:
                continue
            if entry.group(2) == "mem":
                dumped.add(found.process)
                yield found.evidence(file_summary(found, "read"))
            else:
                maps.append(found)
        for found in maps:
            if found.process in dumped:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands(*TOOLS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("dd"):
            sources = [a[3:] for a in run.item.args if a.startswith("if=")]
            if any(ENTRY.match(s) and s.endswith("/mem") for s in sources):
                yield run.evidence(command_summary(run))
        for program in ctx.runs():
            if program.item.path.rsplit("/", 1)[-1] in TOOLS and program.item.interpreter:
                yield program.evidence(program.item.summary)
