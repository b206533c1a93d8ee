"""Process injection with ptrace: another process's memory or registers written."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

# PTRACE_POKETEXT, POKEDATA, POKEUSER, SETREGS, SETFPREGS, SETREGSET
WRITING = frozenset({4, 5, 6, 13, 15, 0x4205})


class PtraceInjection(Signature):
    id = "stealth_ptrace_injection"
    name = "Writes into another process with ptrace"
    description = (
        "Calls ptrace to write another process's memory or registers (POKETEXT, POKEDATA, "
        "SETREGS...): code injected into a running program."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1055.008",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for i, call in enumerate(ctx.report.syscalls.ptrace):
            if call.request in WRITING and call.target not in (None, call.pid):
                found = Found(call, pointer("syscalls", "ptrace", i), call.process, call.pid)
                name = call.request_name or str(call.request)
                yield found.evidence(f"ptrace({name}) on pid {call.target}")
