"""Lists Windows user accounts (Windows sample under Wine): T1087.001."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsDiscoveryAccounts(Signature):
    id = "win_discovery_accounts"
    name = "Lists Windows user accounts"
    description = "Runs net user, net localgroup, net group or wmic useraccount: account discovery."
    severity = "medium"
    category = "discovery"
    techniques = ("T1087.001",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(
            ctx,
            r"\bnet1?(\.exe)?\s+(users?|localgroup|group|accounts)\b|wmic(\.exe)?\s+useraccount",
        ):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
