"""The plugin that reads the host-side disk diff and joins it with the trace.

``disk`` turns ``disk_diff.json`` (written by the disk diff hook once the VM was gone) into the
report's ``filesystem`` section, each change marked ``traced`` or not against the files the
kernel trace saw changed. It runs after ``behaviour`` (whose files it reads) and before
``signatures`` (which may read it).
"""

from __future__ import annotations

from ..disk_diff import DISK_DIFF, DiskDiffError, join_trace, read_disk_diff
from ..models import Files
from .base import Plugin, ProcessingContext

__all__ = ["MAX_REPORTED_ERRORS", "DiskPlugin"]

MAX_REPORTED_ERRORS = 20
"""Problems of the diff repeated in the report's ``errors`` (all stay in the section)."""


class DiskPlugin(Plugin):
    name = "disk"
    requires = (DISK_DIFF,)
    after = ("behaviour",)
    generates = ("filesystem",)
    paged = ("filesystem.changes",)

    def run(self, context: ProcessingContext) -> None:
        try:
            diff = read_disk_diff(context.artefacts[DISK_DIFF])
        except DiskDiffError as exc:
            context.errors.append(f"host-side disk diff unusable: {exc}")
            return
        behaviour = context.behaviour
        join_trace(diff, behaviour.files if behaviour is not None else Files())
        context.errors.extend(
            f"host-side disk diff: {error}" for error in diff.errors[:MAX_REPORTED_ERRORS]
        )
        if len(diff.errors) > MAX_REPORTED_ERRORS:
            context.errors.append(
                f"host-side disk diff: {len(diff.errors) - MAX_REPORTED_ERRORS} more problems "
                "(see filesystem.errors)"
            )
        context.filesystem = diff
