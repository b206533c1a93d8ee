"""Daemon-name masquerading: a process named like a system daemon, run from elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import SYSTEM_DIRS, basename, in_dirs
from ..models import Evidence
from ..query import ReportIndex

DAEMONS = frozenset(
    {"sshd", "systemd", "systemd-journald", "systemd-udevd", "systemd-logind", "systemd-resolved",
     "init", "cron", "crond", "atd", "rsyslogd", "syslogd", "syslog-ng", "dbus-daemon", "udevd",
     "agetty", "getty", "polkitd", "NetworkManager", "auditd", "httpd", "nginx", "apache2",
     "mysqld", "postgres", "dhclient", "acpid", "irqbalance", "containerd", "dockerd"}
)  # fmt: skip


class SystemNameMasquerade(Signature):
    id = "stealth_system_name_masquerade"
    name = "Runs under the name of a system daemon"
    description = (
        "A process named (comm or argv[0]) like a system daemon (sshd, systemd, cron, "
        "rsyslogd...) whose program file is not in the system directories: a disguise."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1036.005",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.processes():
            process = found.item
            if process.image is None or in_dirs(process.image, SYSTEM_DIRS):
                continue
            names = {process.comm, basename(process.argv[0] if process.argv else None)}
            borrowed = sorted(names & DAEMONS)
            if borrowed:
                yield found.evidence(
                    f"{process.image} (pid {process.pid}) runs as {', '.join(borrowed)}"
                )
