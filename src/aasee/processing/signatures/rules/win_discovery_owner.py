"""Asks Windows who the user is (Windows sample under Wine): T1033."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsDiscoveryOwner(Signature):
    id = "win_discovery_owner"
    name = "Asks Windows who the user is"
    description = "Runs whoami (or query user): system owner/user discovery."
    severity = "low"
    category = "discovery"
    techniques = ("T1033",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(ctx, r"\b(whoami|query\s+user|quser)\b"):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
