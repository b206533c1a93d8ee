"""Udev persistence: a udev rule written (run on device events, as root)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

UDEV_PATHS = (
    "/etc/udev/rules.d/*",
    "/lib/udev/rules.d/*",
    "/usr/lib/udev/rules.d/*",
    "/run/udev/rules.d/*",
)


class UdevRulePersistence(Signature):
    id = "persistence_udev_rules"
    name = "Installs a udev rule"
    description = (
        "Writes a udev rule: udevd runs its RUN+= program as root on device events. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1546.017",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(UDEV_PATHS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
