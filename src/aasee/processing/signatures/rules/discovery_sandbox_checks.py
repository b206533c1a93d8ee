"""Virtual machine and sandbox checks: DMI identity, SCSI models, hypervisor files,
systemd-detect-virt, grep for hypervisor names."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

FILES = (
    "/sys/class/dmi/id/*", "/sys/devices/virtual/dmi/id/*", "/proc/scsi/scsi",
    "/sys/hypervisor/**", "/proc/xen/**", "/proc/vz", "/proc/user_beancounters", "/.dockerenv",
    "/run/.containerenv", "/proc/1/cgroup", "/proc/1/environ", "/sys/firmware/dmi/**",
)  # fmt: skip
DIRECTORIES = ("/sys/class/dmi/id", "/sys/devices/virtual/dmi/id", "/proc/xen", "/sys/hypervisor")
COMMANDS = ("systemd-detect-virt", "virt-what", "dmidecode", "imvirt", "virt-who")
VM_WORDS = re.compile(
    r"qemu|kvm|vbox|virtualbox|vmware|xen|hyper-?v|hypervisor|virtual|bochs|parallels|"
    r"sandbox|cuckoo|innotek",
    re.IGNORECASE,
)


class SandboxChecks(Signature):
    id = "discovery_sandbox_checks"
    name = "Checks whether it runs in a virtual machine or sandbox"
    description = (
        "Reads the DMI identity (/sys/class/dmi/id: product name, vendor), /proc/scsi/scsi, "
        "hypervisor or container markers, runs systemd-detect-virt, virt-what or dmidecode, "
        "or greps for hypervisor names (qemu, vbox, vmware...): a sample deciding whether to "
        "show its real behaviour."
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1497.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", FILES):
            yield found.evidence(file_summary(found, "read"))
        for found in ctx.files("directories", DIRECTORIES):
            yield found.evidence(file_summary(found, "listed"))
        for run in ctx.commands(*COMMANDS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("grep", "egrep", "fgrep"):
            if any(VM_WORDS.search(arg) for arg in run.item.args if not arg.startswith("/")):
                yield run.evidence(command_summary(run))
