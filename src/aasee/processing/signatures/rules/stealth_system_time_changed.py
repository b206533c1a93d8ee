"""The system clock set: date -s, timedatectl set-time, hwclock --set, or the clock
syscalls outside time daemons."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

CLOCK_SETTING = ("settimeofday", "clock_settime", "stime", "clock_adjtime", "adjtimex")
TIME_DAEMONS = frozenset(
    {"ntpd", "chronyd", "systemd-timesyncd", "ntpdate", "sntp", "openntpd", "timedatectl",
     "systemd-timedated", "hwclock", "busybox", "vmtoolsd", "qemu-ga"}
)  # fmt: skip
DATE_OPERAND = re.compile(r"^\d{8}(\d{2}|\d{4})?(\.\d{2})?$")


class SystemTimeChanged(Signature):
    id = "stealth_system_time_changed"
    name = "Changes the system clock"
    description = (
        "Runs date -s/--set (or date MMDDhhmm), timedatectl set-time, hwclock --set, or calls "
        "settimeofday/clock_settime outside the time daemons: with the clock moved, files "
        "written now get forged timestamps and logs lie about when things happened."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1070.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("date"):
            args = run.item.args
            setting = any(a in ("-s", "--set") or a.startswith("--set=") for a in args)
            if setting or any(DATE_OPERAND.match(a) for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("timedatectl"):
            if run.item.args[:1] == ("set-time",):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("hwclock"):
            if {"--set", "--systohc", "-w"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for use in ctx.syscalls(CLOCK_SETTING):
            if use.item.name == "adjtimex":
                continue  # also only reads the clock state (ntptime, chronyc)
            if not ctx.names(use.process) & TIME_DAEMONS:
                yield use.evidence(f"called {use.item.name} {use.item.count} times")
