"""PROMPT_COMMAND set: bash runs it before every prompt. A variable: only the script, the
shell command line or a command's environment shows it."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..commands import parse_shell
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

# What a prompt hook does to set the terminal title or keep history: prints only.
PRINTERS = frozenset({"echo", "printf", "history", "true", ":", "update_terminal_cwd"})


def prompt_values(words: tuple[str, ...]) -> list[str]:
    return [
        w.split("=", 1)[1]
        for w in words
        if w.startswith(("PROMPT_COMMAND=", "PROMPT_COMMAND+=")) and w.split("=", 1)[1].strip()
    ]


class PromptCommand(Signature):
    id = "persistence_prompt_command"
    name = "Sets PROMPT_COMMAND to run a program"
    description = (
        "Assigns or exports PROMPT_COMMAND with code that runs a program (not just echo or "
        "printf, as terminal-title settings do): bash runs it before every prompt of an "
        "interactive shell, a hook for code or for spying on what is typed."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1546.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands():
            command = run.item
            declaring = command.name in ("", "export", "declare", "typeset", "readonly", "local")
            words = (*command.env, *command.args) if declaring else command.env
            for value in prompt_values(words):
                started = [c.written for c in parse_shell(value).commands if c.name not in PRINTERS]
                if started:
                    yield run.evidence(f"{command_summary(run)}; each prompt runs {started[0]}")
                    break
