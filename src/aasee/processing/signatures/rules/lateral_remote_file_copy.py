"""Files copied to or from another host with scp, rsync or sftp."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

REMOTE = re.compile(r"^(?:[\w.+-]+@)?(?:\[[0-9a-fA-F:.]+\]|[\w.-]+):(?!//)|^(?:scp|sftp|rsync)://")
VALUED = {
    "scp": frozenset({"-c", "-F", "-i", "-J", "-l", "-o", "-P", "-S", "-D", "-X"}),
    "rsync": frozenset({"-e", "--rsh", "--exclude", "--include", "-f", "--filter", "--port",
                        "--password-file", "--files-from", "-B", "--block-size"}),
    "pscp": frozenset({"-P", "-l", "-pw", "-i"}),
}  # fmt: skip


class RemoteFileCopy(Signature):
    id = "lateral_remote_file_copy"
    name = "Copies files to or from another host"
    description = (
        "Runs scp, rsync or pscp with a remote side (host:path, user@host:path, "
        "rsync://...), or sftp to a host: tools brought in from a remote host, or pushed to "
        "the next one."
    )
    severity = "medium"
    category = "lateral-movement"
    techniques = ("T1105", "T1570")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("scp", "rsync", "pscp"):
            words = operands(run.item, VALUED.get(run.item.name, frozenset()))
            if len(words) >= 2 and any(REMOTE.match(w) for w in words):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("sftp"):
            if operands(run.item, frozenset({"-b", "-F", "-i", "-o", "-P", "-l", "-R", "-S"})):
                yield run.evidence(command_summary(run))
