"""Virtual machine and sandbox checks: DMI identity, SCSI and IDE models, hypervisor and
container markers read one by one, systemd-detect-virt and the like, grep for hypervisor
names.

What a program walking the whole tree (find /, du, grep -r, tar) or listing processes (ps,
pgrep) opens on its way is not a check: only targeted reads count."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, TRAVERSERS, basename, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

FILES = (
    "/sys/class/dmi/id/*", "/sys/devices/virtual/dmi/id/*", "/proc/scsi/scsi", "/proc/ide/*/model",
    "/sys/hypervisor/**", "/proc/xen/**", "/proc/vz", "/proc/user_beancounters", "/.dockerenv",
    "/run/.containerenv", "/proc/1/cgroup", "/proc/1/environ", "/proc/1/sched",
    "/sys/firmware/dmi/**",
)  # fmt: skip
DIRECTORIES = ("/sys/class/dmi/id", "/sys/devices/virtual/dmi/id", "/proc/xen", "/sys/hypervisor")
# Guest tools of hypervisors and analysis sandboxes: looked for, they give the host away.
GUEST_TOOLS = ("/usr/bin/VBox*", "/usr/sbin/VBox*", "/opt/VBoxGuestAdditions*",
               "/usr/bin/vmware-*", "/etc/vmware-tools", "/etc/vmware-tools/**",
               "/usr/bin/qemu-ga", "/usr/sbin/qemu-ga", "/usr/bin/vmtoolsd",
               "/usr/sbin/xe-daemon", "/usr/bin/xenstore-*", "/usr/bin/prl_*",
               "/opt/cuckoo*", "/tmp/.cuckoo*", "/usr/bin/sandboxie*")  # fmt: skip
MAC_FILES = ("/sys/class/net/*/address",)
COMMANDS = ("systemd-detect-virt", "virt-what", "dmidecode", "imvirt", "virt-who",
            "vmware-toolbox-cmd", "VBoxControl", "xenstore-read", "vmware-checkvm")  # fmt: skip
VM_WORDS = re.compile(
    r"qemu|vbox|virtualbox|vmware|vmw_|hyper-?v|hypervisor|bochs|parallels|innotek|cuckoo|"
    r"virtio|hv_vmbus|(?<![a-z])(?:kvm|xen|hvm|domu|droplet)(?![a-z])|"
    r"08:00:27|52:54:00|00:0c:29|00:50:56|00:05:69|00:16:3e|00:1c:42|00:03:ff|0a:00:27",
    re.IGNORECASE,
)


class SandboxChecks(Signature):
    id = "discovery_sandbox_checks"
    name = "Checks whether it runs in a virtual machine or sandbox"
    description = (
        "Reads the DMI identity (/sys/class/dmi/id: product name, vendor), /proc/scsi/scsi, "
        "hypervisor or container markers, looks for hypervisor guest tools (VBoxControl, "
        "vmware-toolbox-cmd, qemu-ga...), reads MAC addresses with a text tool, runs "
        "systemd-detect-virt, virt-what or dmidecode, or greps for hypervisor names or their "
        "MAC prefixes (qemu, vbox, vmware, virtio, 08:00:27...): a sample deciding "
        "whether to show its real behaviour. Reads by programs walking whole trees (find, du, "
        "grep -r, tar) or listing processes (ps, pgrep) are not counted."
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1497.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        scanners = ctx.proc_scanners
        for found in ctx.files("read", FILES):
            if found.process in scanners or self._walking(ctx, found.process):
                continue
            yield found.evidence(file_summary(found, "read"))
        for found in [*ctx.files("read", GUEST_TOOLS), *ctx.files("directories", GUEST_TOOLS)]:
            if not self._walking(ctx, found.process, listing=True):
                yield found.evidence(file_summary(found, "looked for"))
        for found in ctx.files("read", MAC_FILES):
            if ctx.names(found.process) & TEXT_TOOLS and not self._walking(ctx, found.process):
                yield found.evidence(file_summary(found, "read the MAC address in"))
        for found in ctx.files("directories", DIRECTORIES):
            if not self._walking(ctx, found.process, listing=True):
                yield found.evidence(file_summary(found, "listed"))
        for run in ctx.commands(*COMMANDS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("grep", "egrep", "fgrep"):
            if any(VM_WORDS.search(arg) for arg in run.item.args if not arg.startswith("/")):
                yield run.evidence(command_summary(run))

    @staticmethod
    def _walking(ctx: ReportIndex, key: str | None, listing: bool = False) -> bool:
        """The process walks a tree: find, du, tar, grep -r..., or ls -R when it lists."""
        process = ctx.process(key)
        if process is None:
            return False
        names = ctx.names(key)
        walkers = TRAVERSERS - {"grep", "egrep", "fgrep", "cp"}
        if names & walkers:
            return True
        argv = tuple(process.argv[1:])
        recursive = any(a in ("-r", "-R", "--recursive") for a in argv) or any(
            a.startswith("-") and not a.startswith("--") and ("r" in a or "R" in a) for a in argv
        )
        if names & {"grep", "egrep", "fgrep", "cp"} and recursive:
            return True
        if listing and "ls" in names:
            return any(a.startswith("-") and "R" in a for a in argv)
        return basename(process.image) in walkers
