"""Binary padding: bytes appended to a program so its hash changes."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import SYSTEM_DIRS, command_summary, file_summary, in_dirs, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

PROGRAM_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")


class BinaryPadding(Signature):
    id = "stealth_binary_padding"
    name = "Pads a program to change its hash"
    description = (
        "Appends to a program (one run during the analysis, a copy of a system program, a "
        "dropped ELF, or a file in the system's bin directories), or grows one with truncate "
        "-s +N or dd conv=notrunc oflag=append: the same code under a new hash, so that "
        "hash-based blocklists miss it."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1027.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        programs = {run.item.path for run in ctx.runs()}
        programs.update(ctx.program_copies)
        programs.update(d.path for d in ctx.report.dropped if d.static and d.static.elf)
        for found in ctx.all_files("written"):
            item = found.item
            path = item.path
            appending = "O_APPEND" in item.flags and "O_TRUNC" not in item.flags
            if appending and (path in programs or in_dirs(path, PROGRAM_DIRS)):
                yield found.evidence(file_summary(found, "appended to"))
        for run in ctx.commands("truncate"):
            size = option_value(run.item, "-s", "--size") or ""
            targets = operands(run.item, frozenset({"-s", "--size", "-r", "--reference"}))
            if size.startswith("+") and any(
                t in programs or in_dirs(t, SYSTEM_DIRS) for t in targets
            ):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("dd"):
            args = set(run.item.args)
            target = next((a[3:] for a in run.item.args if a.startswith("of=")), None)
            if target in programs and ("oflag=append" in args or "conv=notrunc" in args):
                yield run.evidence(command_summary(run))
