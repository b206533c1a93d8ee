"""Ingress tool transfer: data fetched from the network saved to a file."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex


class IngressToolTransfer(Signature):
    id = "c2_ingress_tool_transfer"
    name = "Downloads files"
    description = (
        "Data a process fetched from the network lands in a file (written by the fetcher, "
        "or moved on by a copy, a pipe or a redirection: see execution_download_chmod_exec), "
        "or tftp/ftpget/whois fetch from a server: tools and payloads brought onto the "
        "host. Downloads are common, hence low; what is done with the file is judged by the "
        "execution signatures."
    )
    severity = "low"
    category = "command-and-control"
    techniques = ("T1105",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for path, download in sorted(ctx.downloads.items(), key=lambda item: item[1].time):
            last = download.steps[-1]
            yield last.found.evidence(f"{path} holds downloaded data ({last.summary})")
        for run in ctx.commands("tftp", "ftpget", "atftp", "curlftpfs"):
            if run.item.args and not {"-h", "--help", "-V"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("whois"):
            args = run.item.args
            if any(a in ("-p", "--port") or a.startswith("--port=") for a in args):
                yield run.evidence(command_summary(run))
