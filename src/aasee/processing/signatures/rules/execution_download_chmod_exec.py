"""Download and run: a file that holds data fetched from the network, made executable, then
executed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..facts import mode_value
from ..models import Evidence
from ..query import Found, ReportIndex

EXECUTABLE = 0o111


def executable_modes(ctx: ReportIndex) -> dict[str, Found[Any]]:
    """The first record giving each path execute permission (chmod +x, created executable)."""
    made: dict[str, Found[Any]] = {}
    for kind in ("chmod", "created"):
        for found in ctx.all_files(kind):
            mode = mode_value(found.item.mode)
            if mode is not None and mode & EXECUTABLE and found.item.ok is not False:
                made.setdefault(found.item.path, found)
    return made


class DownloadChmodExec(Signature):
    id = "execution_download_chmod_exec"
    name = "Downloads a program, makes it executable and runs it"
    description = (
        "A file holding data a process fetched from the network (written by the fetcher, or "
        "moved on by another process: renamed, copied, decoded, piped into tee or cat, or "
        "written by a shell redirection), given execute permission (chmod +x, or created "
        "executable), and then executed: a dropper fetching its next stage."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1105", "T1222.002")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        downloads = ctx.downloads
        made_executable = executable_modes(ctx)
        for run in ctx.execs():
            path = run.item.filename
            download = downloads.get(path)
            chmod = made_executable.get(path)
            if download is None or chmod is None or download.time > run.item.time:
                continue
            for step in download.steps:
                yield step.found.evidence(step.summary)
            yield chmod.evidence(f"made {path} executable (mode {chmod.item.mode})")
            yield run.evidence(f"executed {path}")
