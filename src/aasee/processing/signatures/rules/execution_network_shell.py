"""Shells driven from the network: reverse and bind shells.

A process that connects or listens and then becomes an interactive shell (bash -i >&
/dev/tcp/..., nc -e, socat exec:, a backdoor calling execve), an interactive shell started by
a process that talked to the network first (python pty.spawn after connecting, an implant's
command loop), or an interactive shell run beside nc, telnet, openssl or socat in one
pipeline (the mkfifo reverse shell)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..commands import Command, program_name, program_source
from ..facts import SHELL_NAMES
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

RELAYS = frozenset({"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "telnet", "openssl",
                    "socat", "cryptcat", "sbd"})  # fmt: skip


def _interactive(command: Command) -> bool:
    """A shell reading commands as they come: -i, or no script and no -c code."""
    if command.name not in SHELL_NAMES:
        return False
    if any(a.startswith("-") and not a.startswith("--") and "i" in a for a in command.args):
        return True
    source = program_source(command.name, command.args)
    return source is not None and source.kind == "stdin"


class NetworkShell(Signature):
    id = "execution_network_shell"
    name = "Gives a shell to the network (reverse or bind shell)"
    description = (
        "A process that connects or listens and then becomes an interactive shell (bash -i "
        ">& /dev/tcp/..., nc -e, socat exec:), an interactive shell started by a process "
        "that had connected out (python pty.spawn, an implant), "
        "or an interactive shell run beside nc, telnet, openssl s_client or socat in one "
        "pipeline (mkfifo): someone elsewhere types the commands."
    )
    severity = "high"
    category = "execution"
    techniques = ("T1059.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        shells = []
        for run in ctx.execs():
            name, args = program_name(run.item.filename, run.item.argv)
            if name in SHELL_NAMES:
                command = Command(name, args)
                if _interactive(command):
                    shells.append((run, command))
        if not shells:
            return
        talks = self._network_records(ctx)
        first_talk: dict[str, tuple[float, Found[Any], str]] = {}
        for key, records in talks.items():
            first_talk[key] = min(records, key=lambda r: r[0])
        for run, command in shells:
            process = ctx.process(run.process)
            if process is None:
                continue
            own = first_talk.get(process.key)
            if own is not None and own[0] <= run.item.time:
                yield own[1].evidence(f"pid {process.pid} {own[2]}")
                yield run.evidence(f"then became the shell {command.line}")
                continue
            parent = first_talk.get(process.parent or "")
            start = process.start if process.start is not None else run.item.time
            if (
                parent is not None
                and parent[0] <= start
                and not self._is_shell(ctx, process.parent)
            ):
                yield parent[1].evidence(f"the parent {parent[2]}")
                yield run.evidence(f"then started the shell {command.line}")
                continue
            relay = self._relay_sibling(ctx, process, talks)
            if relay is not None:
                _, found, what = relay
                yield found.evidence(f"{ctx.provenance.label(found.process or '')} {what}")
                yield run.evidence(f"{command.line} runs beside it in one pipeline")

    @staticmethod
    def _is_shell(ctx: ReportIndex, key: str | None) -> bool:
        return bool(ctx.names(key) & SHELL_NAMES)

    @staticmethod
    def _network_records(ctx: ReportIndex) -> dict[str, list[tuple[float, Found[Any], str]]]:
        """Per process: (time, record, what it did) of each connect, UDP send and listen."""
        network = ctx.report.network
        talks: dict[str, list[tuple[float, Found[Any], str]]] = {}
        for i, c in enumerate(network.connections):
            if c.dst_port != 53:
                found: Found[Any] = Found(c, pointer("network", "connections", i), c.process, c.pid)
                talks.setdefault(c.process, []).append(
                    (c.time, found, f"connected to {c.dst_ip} port {c.dst_port}")
                )
        for i, u in enumerate(network.udp):
            if u.dst_port != 53:
                found = Found(u, pointer("network", "udp", i), u.process, u.pid)
                talks.setdefault(u.process, []).append(
                    (u.time, found, f"sent to {u.dst_ip} port {u.dst_port}")
                )
        for i, b in enumerate(network.binds):
            found = Found(b, pointer("network", "binds", i), b.process, b.pid)
            talks.setdefault(b.process, []).append((b.time, found, f"listened on port {b.port}"))
        return talks

    @staticmethod
    def _relay_sibling(
        ctx: ReportIndex, process: Any, talks: dict[str, list[tuple[float, Found[Any], str]]]
    ) -> tuple[float, Found[Any], str] | None:
        """A sibling relay (nc, telnet, openssl...) running with the shell that talked to the
        network: the two ends of one pipeline."""
        if process.start is None:
            return None
        for sibling in ctx.children(process.parent):
            if sibling.key == process.key or not ctx.names(sibling.key) & RELAYS:
                continue
            if sibling.start is None or sibling.key not in talks:
                continue
            overlaps = (sibling.exit is None or sibling.exit >= process.start) and (
                process.exit is None or sibling.start <= process.exit
            )
            if overlaps:
                return min(talks[sibling.key], key=lambda r: r[0])
        return None
