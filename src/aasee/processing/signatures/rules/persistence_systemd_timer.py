"""Systemd timer persistence: a .timer unit written or started, or a transient timer made
with systemd-run."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

UNIT_DIRS = (
    "/etc/systemd/system/**", "/etc/systemd/user/**", "/lib/systemd/system/**",
    "/usr/lib/systemd/system/**", "/usr/lib/systemd/user/**", "/run/systemd/system/**",
    "/root/.config/systemd/user/**", "/home/*/.config/systemd/user/**",
)  # fmt: skip
TIMERS = tuple(f"{d}.timer" for d in UNIT_DIRS)
TIMER_OPTIONS = (
    "--on-calendar", "--on-active", "--on-boot", "--on-startup", "--on-unit-active",
    "--on-unit-inactive", "--on-clock-change", "--on-timezone-change", "--timer-property",
)  # fmt: skip
ACTIVATING = frozenset({"enable", "start", "restart", "reenable", "link", "try-restart"})


class SystemdTimerPersistence(Signature):
    id = "persistence_systemd_timer"
    name = "Schedules a program with a systemd timer"
    description = (
        "Writes a .timer unit, enables or starts one with systemctl, or makes a transient "
        "timer with systemd-run --on-calendar/--on-active/--on-boot...: systemd will run the "
        "program again on a schedule (the cron of systemd). Package installations are not "
        "counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1053.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(TIMERS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("systemd-run"):
            if any(a.split("=", 1)[0] in TIMER_OPTIONS for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl"):
            args = run.item.args
            timer = any(a.endswith(".timer") for a in args)
            if timer and ACTIVATING & set(args) and not ctx.installing(run.process):
                yield run.evidence(command_summary(run))
