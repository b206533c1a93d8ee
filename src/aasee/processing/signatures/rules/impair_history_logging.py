"""Command history logging switched off: HISTFILE unset or sent to /dev/null, history size
zero, ``set +o history``, the history file linked to /dev/null."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

HISTORY_VARIABLES = ("HISTFILE", "HISTSIZE", "HISTFILESIZE", "SAVEHIST")
DISABLING = frozenset(
    {"HISTFILE=/dev/null", "HISTFILE=", "HISTSIZE=0", "HISTFILESIZE=0", "SAVEHIST=0"}
)
SETTERS = frozenset({"", "export", "set", "declare", "typeset", "readonly", "local"})


def hides_commands(word: str) -> bool:
    """HISTCONTROL keeping commands that start with a blank out of history, or HISTIGNORE
    listing patterns never to record."""
    if word.startswith("HISTCONTROL="):
        return bool({"ignorespace", "ignoreboth"} & set(word.split("=", 1)[1].split(":")))
    return word.startswith("HISTIGNORE=") and bool(word.split("=", 1)[1].strip())


HISTORIES = (".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".mysql_history")


class PreventHistoryLogging(Signature):
    id = "impair_history_logging"
    name = "Stops shells from recording command history"
    description = (
        "Unsets HISTFILE/HISTSIZE, sets them to /dev/null or 0, sets HISTCONTROL to ignore "
        "commands typed after a blank or HISTIGNORE to patterns never recorded, runs set +o "
        "history, or makes a history file a link to /dev/null: later commands leave no trace "
        "in history. These are shell builtins and variables: the script or shell command "
        "line is where they show."
    )
    severity = "medium"
    category = "defense-impairment"
    techniques = ("T1690",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands("unset"):
            if set(run.item.args) & set(HISTORY_VARIABLES):
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands(*SETTERS):
            words = {*run.item.env, *run.item.args}
            if (
                words & DISABLING
                or any(hides_commands(w) for w in words)
                or (run.item.name == "set" and "+o" in words and "history" in words)
            ):
                yield run.evidence(command_summary(run))
        for found in ctx.files_named("links", HISTORIES):
            if found.item.target == "/dev/null":
                yield found.evidence(file_summary(found))
