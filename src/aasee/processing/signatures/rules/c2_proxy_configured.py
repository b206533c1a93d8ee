"""Traffic sent through a proxy: proxy variables set, proxychains/torsocks wrappers, NAT
redirection and IP forwarding switched on."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

PROXY_VARIABLES = ("http_proxy=", "https_proxy=", "all_proxy=", "ftp_proxy=", "HTTP_PROXY=",
                   "HTTPS_PROXY=", "ALL_PROXY=", "FTP_PROXY=", "socks_proxy=")  # fmt: skip
WRAPPERS = ("proxychains", "proxychains4", "tsocks", "torsocks", "torify", "proxify",
            "redsocks", "3proxy", "microsocks", "tinyproxy", "privoxy", "polipo", "squid",
            "danted")  # fmt: skip
SETTERS = frozenset({"", "export", "declare", "typeset", "env"})


class ProxyConfigured(Signature):
    id = "c2_proxy_configured"
    name = "Routes traffic through a proxy"
    description = (
        "Sets http_proxy, https_proxy or ALL_PROXY (in a script, a shell command line, a "
        "command's environment), runs a proxy wrapper or server (proxychains, torsocks, "
        "redsocks, microsocks, 3proxy...), adds NAT redirection rules, or switches IP "
        "forwarding on: traffic relayed so its origin or destination is hidden."
    )
    severity = "low"
    category = "command-and-control"
    techniques = ("T1090",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.shell_commands():
            command = run.item
            words = (*command.env, *command.args) if command.name in SETTERS else command.env
            if any(w.startswith(PROXY_VARIABLES) and len(w.split("=", 1)[1]) > 0 for w in words):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*WRAPPERS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("iptables", "ip6tables", "iptables-nft", "iptables-legacy"):
            args = set(run.item.args)
            if "nat" in args and args & {"REDIRECT", "DNAT", "MASQUERADE"}:
                yield run.evidence(command_summary(run))
        for found in ctx.kernel_settings():
            name = found.item.name
            if name.endswith(".forwarding") or name == "net.ipv4.ip_forward":
                if found.item.value not in ("0",):
                    yield found.evidence(found.item.summary)
