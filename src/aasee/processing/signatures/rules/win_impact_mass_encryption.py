"""Rewrites and renames many of the user's files (Windows sample under Wine): T1486."""

from __future__ import annotations

import ntpath
from collections.abc import Iterator

from ...windows.facts import evidence, file_ops
from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

USER_FILES = r"^C:\\users\\[^\\]+\\(Documents|Desktop|Pictures|Music|Videos|Downloads)\\"
MIN_FILES = 3
# Saving through a temporary, new or partial file (~WRL0001.tmp -> x.docx, x.csv.new ->
# x.csv, a download's x.pdf.crdownload -> x.pdf) and keeping a backup (x.txt -> x.txt.bak)
# are not encrypting.
ORDINARY = frozenset(
    {".tmp", ".temp", ".new", ".part", ".partial", ".crdownload", ".download", ".bak", ".old",
     ".orig"}
)  # fmt: skip


class WindowsMassEncryption(Signature):
    id = "win_impact_mass_encryption"
    name = "Rewrites and renames many of the user's files"
    description = (
        "Renames files in the user's profile (Documents, Desktop, Pictures...) to a new "
        f"extension, {MIN_FILES} or more of them: what ransomware does to the files it "
        "encrypts. Temporary, partial-download and backup names (.tmp, .crdownload, .bak...) "
        "excepted."
    )
    severity = "critical"
    category = "impact"
    techniques = ("T1486",)
    families = ("ransomware",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        hits = []
        for index, item in file_ops(ctx, ("renamed",), USER_FILES):
            old = ntpath.splitext(item.path)[1].lower()
            new = ntpath.splitext(item.destination or "")[1].lower()
            if new != old and old not in ORDINARY and new not in ORDINARY:
                hits.append(
                    evidence(
                        f"/windows/files/{index}",
                        f"{item.path} -> {item.destination}",
                        item.process,
                        item.pid,
                    )
                )
        if len(hits) >= MIN_FILES:
            yield from hits
