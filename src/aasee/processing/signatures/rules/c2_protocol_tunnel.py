"""Protocol tunnels: traffic wrapped in SSH, DNS, ICMP or HTTP tunnels and relays."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

TUNNELLERS = ("ngrok", "frpc", "frps", "chisel", "gost", "ligolo", "ligolo-ng", "agent",
              "iodine", "iodined", "dnscat", "dnscat2", "dns2tcpc", "dns2tcpd", "ptunnel",
              "ptunnel-ng", "icmpsh", "sshuttle", "autossh", "revsocks", "rathole", "bore",
              "cloudflared", "pinggy", "stunnel", "stunnel4", "udp2raw", "hans", "icmptunnel",
              "wstunnel", "inlets", "tunnel", "pwnat")  # fmt: skip
SSH_TUNNELS = ("-R", "-L", "-D", "-w")
NOT_RUNNING = frozenset({"-h", "--help", "-v", "--version", "-V", "version", "help"})


class ProtocolTunnel(Signature):
    id = "c2_protocol_tunnel"
    name = "Tunnels traffic through another protocol"
    description = (
        "Runs a tunnelling tool (ngrok, frp, chisel, gost, ligolo, iodine, dnscat, ptunnel, "
        "sshuttle, cloudflared...), ssh with port forwarding or a SOCKS proxy (-R, -L, -D, "
        "-w), or socat relaying a listening port to another host: the controller reaches "
        "in, or traffic leaves, hidden inside an allowed protocol."
    )
    severity = "high"
    category = "command-and-control"
    techniques = ("T1572",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*TUNNELLERS):
            if run.item.args and not NOT_RUNNING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ssh", "autossh", "dbclient"):
            args = run.item.args
            forwarding = any(
                a in SSH_TUNNELS
                or (
                    a.startswith("-") and not a.startswith("--") and a[-1:] in "RLDw" and len(a) > 2
                )
                for a in args
            )
            if forwarding:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("socat"):
            addresses = [a.upper() for a in run.item.args]
            listens = any(
                a.startswith(("TCP-LISTEN", "TCP4-LISTEN", "UDP-LISTEN")) for a in addresses
            )
            relays = any(
                a.startswith(("TCP:", "TCP4:", "UDP:", "OPENSSL:", "SOCKS")) for a in addresses
            )
            if listens and relays:
                yield run.evidence(command_summary(run))
