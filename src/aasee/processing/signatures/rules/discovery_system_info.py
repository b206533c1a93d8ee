"""System information gathered: OS, kernel, CPU and memory asked about in two or more ways."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

COMMANDS = ("uname", "hostnamectl", "lscpu", "lsb_release", "lshw", "lsblk", "uptime", "arch")
FILES = (
    "/proc/cpuinfo", "/proc/meminfo", "/proc/version", "/etc/os-release", "/usr/lib/os-release",
    "/etc/issue", "/etc/lsb-release", "/etc/debian_version", "/etc/redhat-release",
    "/proc/sys/kernel/osrelease", "/proc/sys/kernel/version", "/etc/machine-id",
)  # fmt: skip
MINIMUM = 2


class SystemInformationDiscovery(Signature):
    id = "discovery_system_info"
    name = "Gathers system information"
    description = (
        f"At least {MINIMUM} different ways of learning about the system: uname, lscpu, "
        "hostnamectl, lsb_release..., or reading /proc/cpuinfo, /proc/version, "
        "/etc/os-release. One alone is what many programs do at start."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1082",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        runs = ctx.commands(*COMMANDS)
        reads = ctx.files("read", FILES)
        kinds = {r.item.name for r in runs} | {r.item.path for r in reads}
        if len(kinds) < MINIMUM:
            return
        for run in runs:
            yield run.evidence(command_summary(run))
        for found in reads:
            yield found.evidence(file_summary(found, "read"))
