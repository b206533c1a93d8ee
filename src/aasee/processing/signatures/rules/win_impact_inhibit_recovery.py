"""Deletes shadow copies or disables Windows recovery (Windows sample under Wine): T1490."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

RECOVERY = (
    r"vssadmin(\.exe)?\s+(delete\s+shadows|resize\s+shadowstorage)|shadowcopy\s+delete"
    r"|wbadmin(\.exe)?\s+delete|bcdedit(\.exe)?\s.*(recoveryenabled\s+no|bootstatuspolicy)"
)


class WindowsInhibitRecovery(Signature):
    id = "win_impact_inhibit_recovery"
    name = "Deletes shadow copies or disables Windows recovery"
    description = (
        "Runs vssadmin delete shadows, wmic shadowcopy delete, wbadmin delete, or bcdedit"
        " setting recoveryenabled no / bootstatuspolicy: ransomware removes the ways back"
        " before it encrypts."
    )
    severity = "critical"
    category = "impact"
    techniques = ("T1490",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(ctx, RECOVERY):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
