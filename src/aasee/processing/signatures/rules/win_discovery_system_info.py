"""Collects Windows system information (Windows sample under Wine): T1082."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsDiscoverySystemInfo(Signature):
    id = "win_discovery_system_info"
    name = "Collects Windows system information"
    description = (
        "Runs systeminfo, ver, hostname or wmic os/computersystem: system information discovery."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1082",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(
            ctx,
            r"\b(systeminfo|hostname(\.exe)?$|wmic(\.exe)?\s+(os|computersystem|bios)|cmd.*\bver\b)",
        ):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
