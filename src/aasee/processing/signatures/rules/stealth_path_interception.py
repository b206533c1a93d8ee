"""PATH interception: a writable or temporary directory put first in PATH, so a program
planted there runs instead of the system's."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, command_summary
from ..models import Evidence
from ..query import ReportIndex

SETTERS = frozenset({"", "export", "declare", "typeset", "readonly", "local", "env"})


def hijacking_entry(value: str) -> str | None:
    """The entry of a PATH value that comes before the system directories and is a temporary,
    hidden or relative directory (or empty: the current one), if any."""
    for entry in value.split(":"):
        if entry in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            return None
        if entry.startswith("$"):
            return None  # the old PATH comes first
        folder = entry.rstrip("/") + "/"
        hidden = any(p.startswith(".") and p not in (".", "..") for p in entry.split("/"))
        if entry in ("", ".", "./") or folder.startswith(TEMP_DIRS) or hidden:
            return entry or "(empty: the current directory)"
    return None


class PathInterception(Signature):
    id = "stealth_path_interception"
    name = "Puts a temporary directory first in PATH"
    description = (
        "Sets or exports PATH (in a script, a shell command line, or a command's environment) "
        "with /tmp, /var/tmp, /dev/shm, a hidden directory, '.' or an empty entry ahead of "
        "the system directories: a program planted there under the name of a system command "
        "(ls, sudo, ps...) runs instead of it."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1574.007",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands():
            command = run.item
            words = (*command.env, *command.args) if command.name in SETTERS else command.env
            for word in words:
                if word.startswith("PATH="):
                    entry = hijacking_entry(word[5:])
                    if entry is not None:
                        yield run.evidence(f"{command_summary(run)}; PATH starts with {entry}")
                        break
