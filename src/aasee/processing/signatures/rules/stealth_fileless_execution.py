"""Fileless execution: a program run from a memory file descriptor (memfd) or a deleted file."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

FD_PATH = re.compile(r"^(/proc/(self|\d+)/fd/\d+|/dev/fd/\d+|/?memfd:.*)$|\(deleted\)$")


class FilelessExecution(Signature):
    id = "stealth_fileless_execution"
    name = "Runs a program from memory"
    description = (
        "Executes /proc/self/fd/N, /dev/fd/N or a memfd: file (a program loaded into an "
        "anonymous memory file, typically made with memfd_create), or calls memfd_create and "
        "execveat: nothing is ever written to disk."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1620", "T1027.011")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.execs():
            if FD_PATH.search(run.item.filename):
                yield run.evidence(f"executed {run.item.filename}")
        memfd = {use.process: use for use in ctx.syscalls(("memfd_create",))}
        for use in ctx.syscalls(("execveat",)):
            if use.process in memfd:
                yield memfd[use.process].evidence(
                    f"called memfd_create {memfd[use.process].item.count} times"
                )
                yield use.evidence(f"called execveat {use.item.count} times")
