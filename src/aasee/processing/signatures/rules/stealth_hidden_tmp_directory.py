"""Hidden files in temporary directories: dot-names under /tmp, /var/tmp, /dev/shm."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

HIDDEN = tuple(f"{d}.**" for d in TEMP_DIRS)
# Dot-names the X server, desktop sessions and common programs make in /tmp.
STANDARD = frozenset({".X11-unix", ".ICE-unix", ".font-unix", ".XIM-unix", ".Test-unix"})
STANDARD_PREFIXES = (
    ".com.google.Chrome.", ".org.chromium.Chromium.", ".s.PGSQL.", ".mount_", ".java_pid",
    ".esd-", ".pulse", ".dotnet", ".wine-",
)  # fmt: skip


def hidden_name(path: str) -> str | None:
    """The dot-name right under a temporary directory that ``path`` is in, if any."""
    for prefix in TEMP_DIRS:
        if path.startswith(prefix):
            name = path[len(prefix) :].split("/", 1)[0]
            standard = (
                name in STANDARD
                or name.startswith(STANDARD_PREFIXES)
                or (name.startswith(".X") and name.endswith("-lock"))
            )
            if name.startswith(".") and name not in (".", "..") and not standard:
                return name
    return None


class HiddenTempFiles(Signature):
    id = "stealth_hidden_tmp_directory"
    name = "Hides files under a dot-name in a temporary directory"
    description = (
        "Creates a directory or writes or runs (executes, or hands to an interpreter) a file "
        "whose name starts with a dot under /tmp, /var/tmp or /dev/shm (the X server's own "
        ".X11-unix and the like excepted): out of sight of a plain ls."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1564.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("mkdir", HIDDEN):
            if hidden_name(found.item.path):
                yield found.evidence(file_summary(found, "created directory"))
        for found in [*ctx.files("written", HIDDEN), *ctx.files("renamed", HIDDEN)]:
            path = written_path(found.item)
            if hidden_name(path):
                yield found.evidence(file_summary(found))
        for run in ctx.runs():
            if hidden_name(run.item.path):
                yield run.evidence(run.item.summary)
