"""Drops a ransom note in the user's folders (Windows sample under Wine): T1486."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...windows.facts import evidence, file_ops
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

NOTE = (
    r"^C:\\users\\.*\\[^\\]*(readme|decrypt|restore|how_to|how-to|recover|your_files|ransom)"
    r"[^\\]*\.(txt|html?|hta)$"
)
FOLDERS = 2
"""Ransomware leaves its note in every folder it encrypts; an installer or an unpacked
archive writes its README.txt into its own folder (under AppData, or one folder of
Downloads): the same note name must be in this many of the profile's folders (Documents,
Desktop, Pictures..., the profile itself), AppData not counted."""


class WindowsRansomNote(Signature):
    id = "win_impact_ransom_note"
    name = "Drops a ransom note in the user's folders"
    description = (
        "Creates a text or HTML file named like a ransom note (README, DECRYPT, RESTORE, "
        f"HOW_TO, RECOVER, YOUR_FILES) under the same name in {FOLDERS} or more of the "
        "user's folders (Documents, Desktop, Pictures...; AppData not counted)."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1486",)
    families = ("ransomware",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        notes: dict[str, list[tuple[int, Any]]] = {}
        folders: dict[str, set[tuple[str, str]]] = {}
        for index, item in file_ops(ctx, ("created", "written"), NOTE):
            # C:\users\<user>\<folder>\...\<name>, or C:\users\<user>\<name>
            parts = item.path.lower().split("\\")
            folder = parts[3] if len(parts) > 4 else ""
            if folder == "appdata":
                continue
            notes.setdefault(parts[-1], []).append((index, item))
            folders.setdefault(parts[-1], set()).add((parts[2], folder))
        for name, members in notes.items():
            if len(folders[name]) >= FOLDERS:
                for index, item in members:
                    yield evidence(f"/windows/files/{index}", item.path, item.process, item.pid)
