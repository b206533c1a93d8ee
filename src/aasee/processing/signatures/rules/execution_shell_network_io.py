"""A shell talking to the network itself: bash's /dev/tcp and /dev/udp redirections."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..commands import program_name
from ..facts import SHELL_NAMES
from ..models import Evidence
from ..query import Found, ReportIndex, pointer


class ShellNetworkIo(Signature):
    id = "execution_shell_network_io"
    name = "A shell opens network connections itself"
    description = (
        "A process running a shell (not a program it started) connects or sends over the "
        "network: bash's /dev/tcp/HOST/PORT and /dev/udp redirections, which download, beacon "
        "or give a shell without curl, wget or nc ever running."
    )
    severity = "medium"
    category = "execution"
    techniques = ("T1059.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        network = ctx.report.network
        records = [
            (c.process, c.time, f"connected to {c.dst_ip} port {c.dst_port}",
             Found(c, pointer("network", "connections", i), c.process, c.pid))
            for i, c in enumerate(network.connections) if c.dst_port != 53
        ] + [
            (u.process, u.time, f"sent to {u.dst_ip} port {u.dst_port}",
             Found(u, pointer("network", "udp", i), u.process, u.pid))
            for i, u in enumerate(network.udp) if u.dst_port != 53
        ]  # fmt: skip
        for key, time, what, found in records:
            process = ctx.process(key)
            if process is None:
                continue
            running = [e for e in process.execs if e.time <= time]
            if not running:
                # A fork that has not executed anything runs the program of the nearest
                # ancestor that did.
                ancestors = [p for p in ctx.lineage(process.parent) if p.execs]
                running = ancestors[0].execs[-1:] if ancestors else []
            shell = False
            if running:
                record = running[-1]
                shell = program_name(record.filename, record.argv)[0] in SHELL_NAMES or (
                    bool(record.argv) and posixpath.basename(record.argv[0]) in SHELL_NAMES
                )
            if shell:
                yield found.evidence(f"a shell (pid {process.pid}) {what} itself")
