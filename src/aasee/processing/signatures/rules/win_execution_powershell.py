"""Starts PowerShell (Windows sample under Wine): T1059.001."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import evidence, section
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
        yield from _children(ctx, "powershell.exe", "pwsh.exe")


def _children(ctx: ReportIndex, *names: str) -> Iterator[Evidence]:
    """Windows processes running one of ``names`` that the sample's own tree started."""
    windows = section(ctx)
    if windows is None:
        return
    root = ctx.root
    for index, process in enumerate(windows.processes):
        if process.image_name.lower() in names and (root is None or process.key != root.key):
            parent = next((p for p in windows.processes if p.key == process.parent), None)
            via = f"{parent.image_name} -> " if parent is not None else ""
            yield evidence(
                f"/windows/processes/{index}",
                f"{via}{process.command_line}",
                process.key,
                process.pid,
            )
