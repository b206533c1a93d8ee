"""Anti-debugging: PTRACE_TRACEME, which fails when a debugger already traces the process."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

PTRACE_TRACEME = 0


class PtraceTraceme(Signature):
    id = "antianalysis_ptrace_traceme"
    name = "Checks for a debugger with PTRACE_TRACEME"
    description = (
        "Calls ptrace(PTRACE_TRACEME): a process can be traced only once, so the call fails "
        "under a debugger or strace, and the sample learns it is watched (and prevents a "
        "debugger from attaching later)."
    )
    severity = "medium"
    category = "anti-analysis"
    techniques = ("T1622",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for i, call in enumerate(ctx.report.syscalls.ptrace):
            if call.request == PTRACE_TRACEME:
                found = Found(call, pointer("syscalls", "ptrace", i), call.process, call.pid)
                result = "" if call.ok is not False else f" (failed: {call.error})"
                yield found.evidence(f"ptrace(PTRACE_TRACEME){result}")
