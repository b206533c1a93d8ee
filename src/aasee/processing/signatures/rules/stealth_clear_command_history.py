"""Command history cleared: history files deleted or emptied, ``history -c`` run."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

HISTORIES = (
    ".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".history",
    ".mysql_history", ".psql_history", ".python_history", ".lesshst", ".viminfo",
)  # fmt: skip


class ClearCommandHistory(Signature):
    id = "stealth_clear_command_history"
    name = "Clears command history"
    description = (
        "Deletes or truncates a shell (or database client) history file (rm, > file, "
        "truncate -s 0, shred), or runs history -c (a builtin: seen in the script or shell "
        "command line): the record of what was typed is erased. A shell rewriting the "
        "history it read at start (its normal save on exit) is not counted."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1070.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files_named("deleted", HISTORIES):
            yield found.evidence(file_summary(found, "deleted"))
        read_back = {(f.item.path, f.process) for f in ctx.files_named("read", HISTORIES)}
        for found in ctx.files_named("written", HISTORIES):
            if ctx.truncated(found) and (found.item.path, found.process) not in read_back:
                yield found.evidence(file_summary(found, "truncated"))
        for run in ctx.shell_commands("history"):
            if any(a.startswith("-") and "c" in a for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("truncate", "shred"):
            if any(a.endswith(HISTORIES) for a in run.item.args):
                yield run.evidence(command_summary(run))
