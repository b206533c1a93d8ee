"""Drops a file into a Windows Startup folder (Windows sample under Wine): T1547.001."""

from __future__ import annotations

from collections.abc import Iterator

from ...windows.facts import evidence, file_ops
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class WindowsStartupFolder(Signature):
    id = "win_persistence_startup_folder"
    name = "Drops a file into a Windows Startup folder"
    description = (
        "Writes a file into the user's or all users' Start Menu\\Programs\\Startup "
        "folder: it is opened at every logon."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1547.001",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for index, item in file_ops(
            ctx, ("written", "created", "renamed"), r"\\Start Menu\\Programs\\Startup\\"
        ):
            # A rename into the folder: name where it came from and where it went.
            where = f"{item.path} -> {item.destination}" if item.destination else item.path
            yield evidence(f"/windows/files/{index}", where, item.process, item.pid)
