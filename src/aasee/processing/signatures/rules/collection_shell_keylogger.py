"""Keylogging in the shell: a DEBUG trap or PROMPT_COMMAND recording every command, terminal
input devices read, a terminal session traced for what is typed."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

RECORDING = re.compile(r"BASH_COMMAND|history\s+-[aw]|\blogger\b|\btee\b|>>?\s*\S|\bcurl\b|\bnc\b")
INPUT_DEVICES = ("/dev/input/event*", "/dev/input/by-id/*", "/dev/input/by-path/*")
INPUT_OWNERS = frozenset(
    {"Xorg", "Xwayland", "systemd-logind", "systemd-udevd", "udevadm", "libinput",
     "gnome-shell", "kwin_wayland", "weston", "sway", "acpid", "gpm", "thermald"}
)  # fmt: skip
KEYLOGGERS = ("logkeys", "lkl", "uberkey", "keysniffer", "skeylogger")


class ShellKeylogger(Signature):
    id = "collection_shell_keylogger"
    name = "Records what is typed"
    description = (
        "Sets a shell DEBUG trap or PROMPT_COMMAND that writes each command ($BASH_COMMAND, "
        "history -a) to a file, logger or the network; reads keyboard input devices "
        "(/dev/input/event*) outside the display server and udev; runs a keylogger "
        "(logkeys); or attaches strace to a process to read what it receives: commands and "
        "passwords typed are captured."
    )
    severity = "high"
    category = "collection"
    techniques = ("T1056.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands("trap"):
            given = [a for a in run.item.args if a != "--"]
            if len(given) >= 2 and "DEBUG" in given[1:] and RECORDING.search(given[0]):
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands():
            command = run.item
            words = (*command.env, *command.args) if command.name in ("", "export") else ()
            for word in words:
                if word.startswith("PROMPT_COMMAND=") and RECORDING.search(word):
                    yield run.evidence(command_summary(run))
                    break
        for found in ctx.files("read", INPUT_DEVICES):
            if not ctx.names(found.process) & INPUT_OWNERS:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands(*KEYLOGGERS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("strace"):
            args = run.item.args
            attached = any(a == "-p" or a.startswith("-p") for a in args)
            reading = any("read" in a for a in args if a.startswith(("-e", "trace=")) or "=" in a)
            if attached and reading:
                yield run.evidence(command_summary(run))
