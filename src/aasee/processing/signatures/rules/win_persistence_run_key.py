"""Adds a program to a Windows Run or RunOnce key (Windows sample under Wine): T1547.001."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import evidence, registry_sets
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

RUN_KEYS = r"\\CurrentVersion\\(Run|RunOnce|RunServices|RunServicesOnce|Policies\\Explorer\\Run)$"


class WindowsRunKey(Signature):
    id = "win_persistence_run_key"
    name = "Adds a program to a Windows Run or RunOnce key"
    description = (
        "Sets a value under ...\\CurrentVersion\\Run, RunOnce, RunServices or "
        "Policies\\Explorer\\Run (HKLM or HKCU), seen in the Wine prefix's registry hives"
        " after the run: the program starts again at every logon."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1547.001",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, change in registry_sets(ctx, RUN_KEYS):
            if change.action == "value_set":
                yield evidence(
                    f"/windows/registry/{index}",
                    f"{change.key}\\{change.value} = {change.data}",
                )
