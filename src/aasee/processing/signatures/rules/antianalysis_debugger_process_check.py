"""Checks for debuggers and analysis tools by process name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

ANALYSIS_TOOLS = re.compile(
    r"(?<![a-z0-9])(gdb|strace|ltrace|lldb|radare2|r2|frida|frida-server|ida64|idaq|ghidra|"
    r"wireshark|tshark|tcpdump|sysdig|edb|valgrind|bpftrace|perf|x64dbg|pwndbg|"
    r"gef|rr|procmon|auditd|sysmon)(?![a-z0-9])",
    re.IGNORECASE,
)
LOOKERS = ("pgrep", "pidof", "grep", "egrep", "fgrep", "killall", "pkill")


class DebuggerProcessCheck(Signature):
    id = "antianalysis_debugger_process_check"
    name = "Looks for debuggers and analysis tools by name"
    description = (
        "Greps the process list, pgrep/pidof, or kills by name for gdb, strace, ltrace, "
        "radare2, frida, Wireshark, tcpdump, sysdig and other analysis tools: a sample "
        "checking whether it is watched before it acts (or getting rid of the watcher)."
    )
    severity = "low"
    category = "anti-analysis"
    techniques = ("T1622",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*LOOKERS):
            words = [a for a in run.item.args if not a.startswith(("-", "/"))]
            if any(ANALYSIS_TOOLS.search(w) for w in words):
                yield run.evidence(command_summary(run))
