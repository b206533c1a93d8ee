"""Container escapes: entering the host's namespaces, mounting the host's disk, privileged
containers mapping the host's root, and the kernel hooks that run a program as root on the
host (core_pattern, cgroup release_agent)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

BLOCK_DEVICE = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|dm-|mapper/|disk/)")
HOOKS = ("/proc/sys/kernel/core_pattern", "/sys/fs/cgroup/**/release_agent",
         "/sys/fs/cgroup/**/notify_on_release", "/proc/sys/kernel/modprobe",
         "/proc/sys/fs/binfmt_misc/register")  # fmt: skip
ROOT_VOLUME = re.compile(r"^(-v|--volume|--mount)?=?/:|(^|,)(src|source)=/(,|$)")
HOST_FLAGS = frozenset({"--privileged", "--pid=host", "--cap-add=SYS_ADMIN", "--cap-add=ALL"})
MOUNT_VALUED = frozenset({"-t", "--types", "-o", "--options", "-L", "--label", "-U", "--uuid"})


class EscapeToHost(Signature):
    id = "privesc_escape_to_host"
    name = "Tries to escape to the host"
    description = (
        "Runs nsenter into pid 1's namespaces, mounts a disk device (/dev/sda1...), starts a "
        "container with --privileged, --pid=host or the host's / mounted, or writes a kernel "
        "hook that the host runs as root (core_pattern, a cgroup release_agent, binfmt_misc): "
        "breaking out of a container onto its host."
    )
    severity = "high"
    category = "privilege-escalation"
    techniques = ("T1611",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("nsenter"):
            target = option_value(run.item, "-t", "--target")
            if target == "1" or any(a in ("-t1", "--target=1") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("mount"):
            words = operands(run.item, MOUNT_VALUED)
            if any(BLOCK_DEVICE.match(w) for w in words[:1]) and len(words) >= 2:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("docker", "podman", "nerdctl"):
            args = run.item.args
            if not {"run", "create"} & set(args[:3]):
                continue
            values = [a for i, a in enumerate(args) if i and args[i - 1] in ("-v", "--volume")]
            if HOST_FLAGS & set(args) or any(ROOT_VOLUME.search(a) for a in (*args, *values)):
                yield run.evidence(command_summary(run))
        for found in ctx.modified(HOOKS):
            yield found.evidence(file_summary(found))
