"""Starts the Windows Script Host (Windows sample under Wine): T1059.005."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import started_programs
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsScriptHost(Signature):
    id = "win_execution_script_host"
    name = "Starts the Windows Script Host"
    description = (
        "The sample starts wscript.exe or cscript.exe (VBScript or JScript): Visual Basic"
        " / script host execution."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1059.005",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        yield from started_programs(ctx, "wscript.exe", "cscript.exe")
