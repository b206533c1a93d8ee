"""Creates or changes a Windows service (Windows sample under Wine): T1543.003."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence, registry_sets
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

SERVICES = r"\\System\\CurrentControlSet\\Services\\[^\\]+$"
# sc create, or sc config giving a service a new program (binPath=): ``sc config X start=
# disabled`` (tuning tools, installers) installs nothing.
SC = r"\bsc(\.exe)?\s+(\\\\\S+\s+)?(create\b|config\b.*\bbinpath=)"


class WindowsServiceCreated(Signature):
    id = "win_persistence_service"
    name = "Creates or changes a Windows service"
    description = (
        "A service key under HKLM\\System\\CurrentControlSet\\Services gets an ImagePath,"
        " or sc.exe create (or config binPath=) runs: a program installed to run as a service."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1543.003",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, change in registry_sets(ctx, SERVICES):
            if change.action == "value_set" and (change.value or "").lower() == "imagepath":
                yield evidence(f"/windows/registry/{index}", f"{change.key}: {change.data}")
        for index, process in command_runs(ctx, SC):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
