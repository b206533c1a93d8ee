"""Worm-like spreading: SSH or telnet tried on many hosts (Mirai-style credential spraying)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Endpoint, Found, ReportIndex

REMOTE_SHELL_PORTS = (22, 23, 2222, 2323)
HOSTS = 5


class SshTelnetSpread(Signature):
    id = "lateral_ssh_telnet_spread"
    name = "Tries SSH or telnet on many hosts"
    description = (
        f"Connects to SSH or telnet ports (22, 23, 2222, 2323) on {HOSTS} or more different "
        "hosts: a bot spreading by guessing logins."
    )
    severity = "high"
    category = "lateral-movement"
    techniques = ("T1021.004", "T1110.001")
    families = ("botnet",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        first: dict[str, Found[Endpoint]] = {}
        for found in ctx.endpoints(REMOTE_SHELL_PORTS):
            point = found.item
            if point.proto == "tcp" and ctx.is_public_destination(point.ip):
                first.setdefault(point.ip, found)
        if len(first) >= HOSTS:
            for ip, found in first.items():
                yield found.evidence(
                    f"{ip} port {found.item.port} (one of {len(first)} hosts tried)"
                )
