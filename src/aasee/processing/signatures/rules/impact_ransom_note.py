"""Ransom notes: the same note-like file (HOW_TO_DECRYPT.txt...) dropped in several folders."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex

NOTE_NAME = re.compile(
    r"(decrypt|ransom|recover|restore|unlock|encrypted|your[_ -]?files|_readme_|^!+readme|"
    r"read[_ -]?me[_ -]?(now|first|!)|how[_ -]?to[_ -]?(get|back|return|open))",
    re.IGNORECASE,
)
NOTE_TYPES = frozenset({"", ".txt", ".html", ".htm", ".hta", ".rtf", ".url"})
DIRECTORIES = 2


class RansomNote(Signature):
    id = "impact_ransom_note"
    name = "Drops ransom notes"
    description = (
        "Writes a file named like a ransom note (HOW_TO_DECRYPT, RECOVER_FILES, "
        f"!README!...; text or HTML) in {DIRECTORIES} or more directories."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1486",)
    families = ("ransomware",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        notes: dict[str, list[Found[Any]]] = {}
        for found in ctx.all_files("written"):
            name = posixpath.basename(found.item.path)
            if NOTE_NAME.search(name) and posixpath.splitext(name)[1].lower() in NOTE_TYPES:
                notes.setdefault(name.lower(), []).append(found)
        for name, members in notes.items():
            directories = {posixpath.dirname(f.item.path) for f in members}
            if len(directories) >= DIRECTORIES:
                for found in members:
                    yield found.evidence(
                        f"wrote {found.item.path} ({name} in {len(directories)} directories)"
                    )
