"""File permissions and ownership changed on files the sample did not make."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, command_summary, operands, outcome
from ..models import Evidence
from ..query import ReportIndex

OWNERSHIP = ("chown", "chgrp", "setfacl")
MODE_VALUED = frozenset({"--reference"})


class FilePermissionsModified(Signature):
    id = "impair_file_permissions"
    name = "Changes permissions or ownership of files"
    description = (
        "Runs chown, chgrp or setfacl, chmod -R, or chmod (or a chmod call) on files that no "
        "process of the sample created during the run: access rights changed so that files "
        "can be read, replaced or run, or protections loosened. Making its own files "
        "executable is not counted; common enough in administration to stay low."
    )
    severity = "low"
    category = "defense-impairment"
    techniques = ("T1222.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        own = ctx.created_paths
        for run in ctx.commands(*OWNERSHIP):
            if operands(run.item):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chmod"):
            args = run.item.args
            targets = operands(run.item, MODE_VALUED)[1:]
            recursive = any(a in ("-R", "--recursive") for a in args)
            foreign = [t for t in targets if t not in own and not t.startswith(TEMP_DIRS)]
            if recursive or foreign:
                yield run.evidence(command_summary(run))
        for found in ctx.all_files("chmod"):
            path = found.item.path
            if path is None or path in own or path.startswith(TEMP_DIRS):
                continue
            if "chmod" not in ctx.names(found.process):
                yield found.evidence(f"chmod {found.item.mode} {path}{outcome(found.item)}")
