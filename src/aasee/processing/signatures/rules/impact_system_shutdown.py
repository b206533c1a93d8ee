"""System shutdown or reboot, and users logged off."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

STOPPERS = ("shutdown", "reboot", "halt", "poweroff", "kexec")
NOT_STOPPING = frozenset({"-c", "--help", "-h", "--version", "-k", "--wall"})
SYSTEMCTL = frozenset({"reboot", "poweroff", "halt", "kexec", "soft-reboot", "emergency",
                       "rescue"})  # fmt: skip


class SystemShutdown(Signature):
    id = "impact_system_shutdown"
    name = "Shuts down, reboots or logs users off"
    description = (
        "Runs shutdown, reboot, halt or poweroff (not shutdown -c), systemctl reboot/poweroff, "
        "init or telinit 0 or 6, writes /proc/sysrq-trigger, calls reboot(2), or ends users' "
        "sessions (loginctl terminate-user, pkill -KILL -u): the host, or its users, "
        "stopped."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1529",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*STOPPERS):
            if not NOT_STOPPING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl"):
            if SYSTEMCTL & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("init", "telinit"):
            if run.item.args[:1] in (("0",), ("6",)):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("loginctl"):
            if run.item.args[:1] in (("terminate-user",), ("kill-user",), ("terminate-session",)):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("pkill", "killall"):
            args = run.item.args
            if "-u" in args and any(a in ("-KILL", "-9", "-SIGKILL", "-HUP") for a in args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("written", ("/proc/sysrq-trigger",)):
            yield found.evidence(file_summary(found))
        for use in ctx.syscalls(("reboot",)):
            yield use.evidence(f"called reboot {use.item.count} times")
