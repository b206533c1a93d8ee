"""Network connections listed: netstat, ss, lsof -i, the kernel's socket tables read."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

TABLES = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6",
          "/proc/net/unix", "/proc/net/raw", "/proc/*/net/tcp", "/proc/*/net/tcp6",
          "/proc/*/net/udp", "/proc/*/net/udp6", "/proc/self/net/tcp")  # fmt: skip
LISTERS = frozenset({"netstat", "ss", "lsof"})


class NetworkConnectionsDiscovery(Signature):
    id = "discovery_network_connections"
    name = "Lists network connections"
    description = (
        "Runs netstat or ss, lsof -i, or reads the kernel's socket tables (/proc/net/tcp, "
        "udp, unix) itself: who talks to whom, which services listen, which administrators "
        "are connected."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1049",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("netstat", "ss"):
            if not {"-h", "--help", "-V", "--version", "-r", "--route", "-i"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("lsof"):
            if any(a == "-i" or a.startswith("-i") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", TABLES):
            if not ctx.names(found.process) & LISTERS:
                yield found.evidence(file_summary(found, "read"))
