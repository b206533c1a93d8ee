"""Code run as a systemd service: a unit it wrote started, or a transient unit made with
systemd-run."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

STARTING = frozenset({"start", "restart", "reload-or-restart", "try-restart", "enable", "--now"})
TIMER_OPTIONS = ("--on-calendar", "--on-active", "--on-boot", "--on-startup", "--on-unit-active",
                 "--on-unit-inactive", "--timer-property")  # fmt: skip


class SystemdServiceRun(Signature):
    id = "execution_systemd_service_run"
    name = "Runs a program as a systemd service"
    description = (
        "Runs systemctl start/restart (or enable --now) on a unit whose file the sample "
        "wrote, or systemd-run to start a command as a transient service: the program runs "
        "as a service of systemd, detached from the sample and as root. (A transient timer "
        "is persistence_systemd_timer.)"
    )
    severity = "medium"
    category = "execution"
    techniques = ("T1569.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        units = {
            posixpath.basename(found.item.path)
            for found in ctx.all_files("written")
            if "/systemd/" in found.item.path and not ctx.installing(found.process)
        }
        units.update(n.removesuffix(".service") for n in list(units))
        for run in ctx.commands("systemctl"):
            args = run.item.args
            starting = STARTING & set(args) and not ctx.installing(run.process)
            if starting and any(a in units for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemd-run"):
            args = run.item.args
            timer = any(a.split("=", 1)[0] in TIMER_OPTIONS for a in args)
            if args and not timer and not {"-h", "--help", "--version"} & set(args):
                yield run.evidence(command_summary(run))
