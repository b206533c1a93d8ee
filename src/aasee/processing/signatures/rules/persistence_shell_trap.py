"""Trap persistence: ``trap`` registers code that runs a program when the shell gets a
signal or exits. A builtin: only the script or the shell command line shows it."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..commands import parse_shell
from ..facts import FETCHER_NAMES, SHELL_NAMES, TEMP_DIRS, command_summary, in_dirs
from ..models import Evidence
from ..query import ReportIndex

LAUNCHERS = frozenset({"nohup", "setsid", "disown", "exec", "eval", "source", "."})


def runs_something(action: str) -> str | None:
    """The command of a trap action that starts code (a shell or interpreter, a download, a
    program from a temporary or hidden place, a detached job), if any; cleanup (rm, echo,
    kill, exit, a function of the script) is not."""
    for command in parse_shell(action).commands:
        name = command.name
        program = command.program
        hidden = any(
            part.startswith(".") and part not in (".", "..") for part in program.split("/")
        )
        if (
            name in SHELL_NAMES
            or name.startswith(("python", "perl", "ruby", "php", "node"))
            or name in FETCHER_NAMES
            or name in LAUNCHERS
            or in_dirs(program, TEMP_DIRS)
            or (program.startswith("/") and hidden)
            or program.startswith("./")
        ):
            return command.written
    return None


class ShellTrap(Signature):
    id = "persistence_shell_trap"
    name = "Registers a trap that runs a program"
    description = (
        "A shell's trap whose action starts code (a shell or interpreter, nohup, a download, "
        "a program from /tmp or a hidden path) when a signal arrives or the shell exits: "
        "code that runs when the session ends or is interrupted. Traps that clean up (rm, "
        "echo, kill, a function of the script) are not counted. Seen in the script or shell "
        "command line (trap is a builtin: nothing of it reaches the kernel until it fires)."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1546.005",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands("trap"):
            args = [a for a in run.item.args if a != "--"]
            if len(args) < 2 or args[0].startswith("-"):
                continue
            started = runs_something(args[0])
            if started is not None:
                yield run.evidence(f"{command_summary(run)}; the action runs {started}")
