"""Download and interpret: a file that holds data fetched from the network is handed to a
shell or scripting language as the script to run (``wget -O x.sh URL; sh x.sh``)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex


class DownloadScriptRun(Signature):
    id = "execution_download_script_run"
    name = "Downloads a script and runs it with an interpreter"
    description = (
        "A file holding data a process fetched from the network (written by the fetcher, or "
        "moved on by another process: renamed, copied, piped into tee or cat, or written by "
        "a shell redirection) is run as the script of sh, bash, python, perl...: no execute "
        "permission needed, the downloaded code runs all the same."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1105", "T1059")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        downloads = ctx.downloads
        for run in ctx.runs():
            if not run.item.interpreter:
                continue
            download = downloads.get(run.item.path)
            if download is None or download.time > run.item.time:
                continue
            for step in download.steps:
                yield step.found.evidence(step.summary)
            yield run.evidence(run.item.summary)
