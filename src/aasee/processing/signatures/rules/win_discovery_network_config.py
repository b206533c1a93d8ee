"""Reads the Windows network configuration (Windows sample under Wine): T1016."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsDiscoveryNetworkConfig(Signature):
    id = "win_discovery_network_config"
    name = "Reads the Windows network configuration"
    description = (
        "Runs ipconfig, route print, arp -a, netsh interface or nbtstat: system network "
        "configuration discovery."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1016",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(
            ctx,
            r"\b(ipconfig|route(\.exe)?\s+print|arp(\.exe)?\s+-a|netsh(\.exe)?\s+interface|nbtstat)\b",
        ):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
