"""Kernel tracing tampered with: the sample opens the ftrace, kprobe or lockdown controls
(to read which probes and pids are watched, or to switch tracing off), or signals PID 1.

Such a sample looks for the kernel tracers that Linux monitoring (and this sandbox) rely on,
and tries to blind them. In the guest the kernel is locked down before the sample runs, so
these attempts fail; the attempt itself is the evidence, whether it succeeded or not.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

CONTROLS = (
    "/sys/kernel/tracing/**",
    "/sys/kernel/debug/tracing/**",
    "/sys/kernel/debug/kprobes/**",
    "/sys/kernel/security/lockdown",
    "/proc/sys/kernel/ftrace_enabled",
    "/proc/sys/kernel/kprobes-optimization",
    "/proc/sys/kernel/perf_event_paranoid",
)
DIRECTORIES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing", "/sys/kernel/debug/kprobes")
SIGNALLERS = ("kill", "pkill", "killall")


class TracerTamper(Signature):
    id = "antianalysis_tracer_tamper"
    name = "Tampers with kernel tracing"
    description = (
        "Opens the kernel's tracing controls (tracefs: tracing_on, kprobe_events, "
        "set_event_pid, trace; the debugfs kprobe switch; the lockdown switch; "
        "ftrace_enabled), lists their directories, or signals PID 1: looking for the "
        "tracers that monitoring tools and sandboxes use, and trying to switch them off. "
        "Counted whether or not the kernel allowed it."
    )
    severity = "high"
    category = "anti-analysis"
    techniques = ("T1685", "T1497")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("written", CONTROLS):
            yield found.evidence(file_summary(found, "wrote"))
        for found in ctx.files("read", CONTROLS):
            yield found.evidence(file_summary(found, "read"))
        for found in ctx.all_files("directories"):
            if found.item.path.rstrip("/") in DIRECTORIES:
                yield found.evidence(file_summary(found, "listed"))
        for run in ctx.commands(*SIGNALLERS):
            targets = [a for a in run.item.args[1:] if not a.startswith("-")]
            if "1" in targets:
                yield run.evidence(command_summary(run))
