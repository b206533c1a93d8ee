"""Starts the Windows command shell (Windows sample under Wine): T1059.003."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import started_programs
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsCmdShell(Signature):
    id = "win_execution_cmd"
    name = "Starts the Windows command shell"
    description = (
        "The sample starts cmd.exe (for example cmd /c with a command line): Windows "
        "command shell execution."
    )
    severity = "medium"
    category = "execution"
    techniques = ("T1059.003",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        yield from started_programs(ctx, "cmd.exe")
