"""Space after filename: a program whose name ends in a space (``init `` looks like
``init``, and file managers may guess its type from what precedes the space)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex


def trailing_space(path: str) -> bool:
    if " " not in path and path.isascii() and path.isprintable():
        return False  # no blank at all (ASCII blanks but the space are not printable)
    return any(part != part.rstrip() for part in path.split("/") if part)


class FilenameTrailingSpace(Signature):
    id = "stealth_filename_trailing_space"
    name = "Runs or writes a file whose name ends in a space"
    description = (
        "Executes (or hands to an interpreter) a file, or writes one, whose name or "
        "directory ends in blanks: 'init ' shows as init in a listing, and a trailing space "
        "after '.txt ' makes a program look like a document."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1036.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.runs():
            if trailing_space(run.item.path):
                yield run.evidence(
                    f"{run.item.summary} (the name ends in a blank: {run.item.path!r})"
                )
        for found in [*ctx.all_files("written"), *ctx.all_files("renamed")]:
            path = written_path(found.item)
            if trailing_space(path) and posixpath.basename(path.rstrip("/")):
                yield found.evidence(file_summary(found) + " (the name ends in a blank)")
