"""Systemd persistence: a unit file written, or ``systemctl enable`` run."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

UNIT_PATHS = (
    "/etc/systemd/system/**",
    "/etc/systemd/user/**",
    "/lib/systemd/system/**",
    "/usr/lib/systemd/system/**",
    "/usr/lib/systemd/user/**",
    "/run/systemd/system/**",
    "/root/.config/systemd/user/**",
    "/home/*/.config/systemd/user/**",
)
INSTALLING = frozenset({"enable", "link", "edit", "reenable", "preset", "set-default"})


class SystemdUnitPersistence(Signature):
    id = "persistence_systemd_unit"
    name = "Installs or enables a systemd unit"
    description = (
        "Writes a unit file in a systemd unit directory, or runs systemctl enable/link/edit: "
        "systemd will start the program at boot or on an event. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1543.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(UNIT_PATHS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("systemctl"):
            if INSTALLING & set(run.item.args) and not ctx.installing(run.process):
                yield run.evidence(command_summary(run))
