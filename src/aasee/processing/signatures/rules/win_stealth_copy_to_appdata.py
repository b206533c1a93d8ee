"""Copies itself into the user's AppData (Windows sample under Wine): T1036.005."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...windows.facts import evidence, file_ops
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

APPDATA = r"\\AppData\\(Roaming|Local)\\"
PROGRAMS = (".exe", ".dll", ".scr", ".com")
# Caches, not where software is installed: every NSIS or Inno Setup installer unpacks its
# plug-in DLLs into %TEMP% (AppData\Local\Temp\nsXXXX.tmp\System.dll), self-extractors
# their programs, WinINet its downloads into INetCache. A copy of the sample counts there too.
CACHES = re.compile(r"\\AppData\\Local\\(Temp|Microsoft\\Windows\\INetCache)\\", re.IGNORECASE)


class WindowsCopyToAppData(Signature):
    id = "win_stealth_copy_to_appdata"
    name = "Copies itself into the user's AppData"
    description = (
        "Writes a Windows program into %APPDATA% or %LOCALAPPDATA% (the sample's own "
        "bytes when the host-side disk diff kept them; a program in %TEMP% or the INetCache "
        "only when it is the sample): malware installs itself where user software lives, "
        "under a name that looks like it belongs there."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1036.005",)
    families = ()

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        sample = ctx.report.sample.sha256
        copies = set()
        filesystem = ctx.report.filesystem
        if filesystem is not None:
            copies = {c.path for c in filesystem.changes if c.sha256 == sample and c.path}
        for index, item in file_ops(ctx, ("written", "created", "renamed"), APPDATA):
            target = item.destination or item.path
            copy = item.guest_path in copies or item.sha256 == sample
            program = target.lower().endswith(PROGRAMS) and not CACHES.search(target)
            if copy or program:
                what = "a copy of the sample" if copy else "a program"
                where = f"{item.path} -> {item.destination}" if item.destination else item.path
                yield evidence(
                    f"/windows/files/{index}", f"{what}: {where}", item.process, item.pid
                )
