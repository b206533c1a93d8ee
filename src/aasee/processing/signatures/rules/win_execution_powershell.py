"""Starts PowerShell (Windows sample under Wine): T1059.001."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import started_programs
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsPowerShell(Signature):
    id = "win_execution_powershell"
    name = "Starts PowerShell"
    description = (
        "The sample starts powershell.exe or pwsh.exe (Wine has no PowerShell: the start "
        "is seen, not what the script does)."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1059.001",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        yield from started_programs(ctx, "powershell.exe", "pwsh.exe")
