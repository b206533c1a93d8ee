"""System service discovery: the services of the host listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

LISTING = frozenset({"list-units", "list-unit-files", "list-sockets", "list-timers",
                     "--type=service", "--all"})  # fmt: skip
SERVICE_DIRS = ("/etc/init.d", "/etc/systemd/system", "/lib/systemd/system",
                "/usr/lib/systemd/system")  # fmt: skip


class SystemServiceDiscovery(Signature):
    id = "discovery_system_services"
    name = "Lists the system's services"
    description = (
        "Runs systemctl list-units/list-unit-files (or with --type=service, or status without "
        "a unit), service --status-all, chkconfig --list, initctl list or rc-status, or ls "
        "of the service directories: which services run, to attack, stop or imitate."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1007",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("systemctl"):
            args = run.item.args
            words = [a for a in args if not a.startswith("-")]
            typed = any(a in ("-t", "--type") or a.startswith("--type=") for a in args)
            informational = {"-h", "--help", "--version"} & set(args)
            listing = LISTING & set(args) or typed or words == ["status"] or not words
            if listing and not informational:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("service"):
            if "--status-all" in run.item.args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chkconfig", "initctl", "rc-status", "rc-update"):
            args = run.item.args
            if not args or {"--list", "list", "show", "-a", "--all"} & set(args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("directories", SERVICE_DIRS):
            if "ls" in ctx.names(found.process):
                yield found.evidence(file_summary(found, "listed"))
