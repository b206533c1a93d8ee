"""Download and run: a file written by a process that used the network, made executable,
then executed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..facts import mode_value
from ..models import Evidence
from ..query import Found, ReportIndex

EXECUTABLE = 0o111


class DownloadChmodExec(Signature):
    id = "execution_download_chmod_exec"
    name = "Downloads a program, makes it executable and runs it"
    description = (
        "A file written by a process that talked to the network (possibly under another name "
        "and then renamed), given execute permission (chmod +x, or created executable), and "
        "then executed: a dropper fetching its next stage."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1105", "T1222.002")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        networked = ctx.network_processes
        written: dict[str, Found[Any]] = {}
        for found in ctx.all_files("written"):
            if found.item.ok is not False and found.process in networked:
                written.setdefault(found.item.path, found)
        renamed: dict[str, Found[Any]] = {}
        for found in ctx.all_files("renamed"):
            if found.item.src in written and found.item.ok is not False:
                renamed.setdefault(found.item.dst, found)
        made_executable: dict[str, Found[Any]] = {}
        for kind in ("chmod", "created"):
            for found in ctx.all_files(kind):
                mode = mode_value(found.item.mode)
                if mode is not None and mode & EXECUTABLE and found.item.ok is not False:
                    made_executable.setdefault(found.item.path, found)
        for run in ctx.execs():
            path = run.item.filename
            move = renamed.get(path)
            download = written.get(path) or (written.get(move.item.src) if move else None)
            chmod = made_executable.get(path)
            if download is None or chmod is None:
                continue
            yield download.evidence(f"wrote {download.item.path} while talking to the network")
            if move is not None:
                yield move.evidence(f"renamed {move.item.src} to {path}")
            yield chmod.evidence(f"made {path} executable (mode {chmod.item.mode})")
            yield run.evidence(f"executed {path}")
