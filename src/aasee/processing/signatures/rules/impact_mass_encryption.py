"""Files encrypted in bulk: many files renamed to, or rewritten under, one new extension."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import Found, ReportIndex

MINIMUM = 20
# Bulk work that also renames or rewrites files under a new extension.
ORDINARY = frozenset(
    {".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".z", ".bak", ".old", ".orig", ".tmp",
     ".temp", ".part", ".swp", ".new", ".dpkg-new", ".dpkg-old", ".dpkg-tmp", ".dpkg-dist",
     ".rej", ".pyc", ".o", ".lock", ".log"}
)  # fmt: skip


def _added_extension(old: str, new: str) -> str | None:
    """The extension a rename added or substituted (``a.doc`` -> ``a.doc.locked``: .locked)."""
    if posixpath.dirname(old) != posixpath.dirname(new):
        return None
    stem, ext = posixpath.splitext(new)
    old_ext = posixpath.splitext(old)[1].lower()
    # Saving through a temporary file (x.tmp -> x.conf, x~ -> x) is not encrypting.
    if not ext or ext.lower() in ORDINARY or ext.lower() == old_ext:
        return None
    if old_ext in ORDINARY or old_ext.endswith("~"):
        return None
    if stem == old or posixpath.splitext(stem)[0] == posixpath.splitext(old)[0]:
        return ext.lower()
    return None


class MassEncryption(Signature):
    id = "impact_mass_encryption"
    name = "Encrypts files in bulk"
    description = (
        f"{MINIMUM} or more files renamed to one new extension (report.doc -> "
        "report.doc.locked), or rewritten as <name>.<ext> while the original is deleted: "
        "ransomware. Compression and package-manager extensions (.gz, .dpkg-new...) excepted."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1486",)
    families = ("ransomware",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        groups: dict[str, list[Found[Any]]] = {}
        for found in ctx.all_files("renamed"):
            ext = _added_extension(found.item.src, found.item.dst)
            if ext is not None and found.item.ok is not False:
                groups.setdefault(ext, []).append(found)
        deleted = {f.item.path for f in ctx.all_files("deleted") if f.item.ok is not False}
        for found in ctx.all_files("written"):
            stem, ext = posixpath.splitext(found.item.path)
            if stem in deleted and ext and ext.lower() not in ORDINARY:
                groups.setdefault(ext.lower(), []).append(found)
        for ext, members in groups.items():
            if len(members) >= MINIMUM:
                for found in members:
                    yield found.evidence(f"{file_summary(found)} ({len(members)} files to {ext})")
