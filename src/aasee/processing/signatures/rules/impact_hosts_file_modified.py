"""Name resolution tampered with: /etc/hosts, the resolver or name service configuration
rewritten."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

RESOLUTION = ("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf",
              "/etc/gai.conf", "/etc/systemd/resolved.conf",
              "/etc/systemd/resolved.conf.d/*")  # fmt: skip
MANAGERS = frozenset(
    {"NetworkManager", "systemd-resolved", "systemd-networkd", "resolvconf", "dhclient",
     "dhclient-script", "dhcpcd", "netconfig", "cloud-init", "netplan", "ifup", "udhcpc",
     "systemd-hostnamed", "hostnamectl", "nm-dispatcher"}
)  # fmt: skip


class HostsFileModified(Signature):
    id = "impact_hosts_file_modified"
    name = "Rewrites name resolution"
    description = (
        "Writes /etc/hosts, /etc/resolv.conf, /etc/nsswitch.conf or the resolver's "
        "configuration outside the network managers and DHCP clients: names sent to "
        "addresses the attacker chose (update and security sites blocked, competitors' "
        "pools redirected, traffic intercepted). Package installations are not counted."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1565.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(RESOLUTION):
            managed = any(ctx.names(p.key) & MANAGERS for p in ctx.lineage(found.process))
            if not managed and not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
