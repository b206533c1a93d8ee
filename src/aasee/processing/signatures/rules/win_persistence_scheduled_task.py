"""Creates a Windows scheduled task (Windows sample under Wine): T1053.005."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import command_runs, evidence, file_ops, registry_sets
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

# schtasks /create, or at.exe scheduling a job (``at [\\host] hh:mm ...``): "at" as the
# program of a command (the line's start, after a path, after cmd's /c or & or |), never the
# word "at" in text (``cmd /c echo started at 10:32 >> log``); ``at 1 /delete`` has no time.
TASK_COMMANDS = (
    r"schtasks(\.exe)?\s.*/create"
    r"|(?:^|[\\\"]|(?:/[ck]|&&?|\|\|?)\s*)at(\.exe)?\s+(?:\\\\\S+\s+)?\d{1,2}:\d{2}"
)


class WindowsScheduledTask(Signature):
    id = "win_persistence_scheduled_task"
    name = "Creates a Windows scheduled task"
    description = (
        "Runs schtasks /create (or at.exe), or writes a task under "
        "C:\\Windows\\System32\\Tasks or the TaskCache registry key: the program is run "
        "again on a schedule."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1053.005",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, process in command_runs(ctx, TASK_COMMANDS):
            yield evidence(
                f"/windows/processes/{index}", process.command_line, process.key, process.pid
            )
        for index, item in file_ops(ctx, ("written", "created"), r"\\system32\\tasks\\"):
            yield evidence(f"/windows/files/{index}", item.path, item.process, item.pid)
        for index, change in registry_sets(ctx, r"\\Schedule\\TaskCache\\Tree\\"):
            yield evidence(f"/windows/registry/{index}", change.key)
