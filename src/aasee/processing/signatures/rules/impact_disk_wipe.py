"""Disks wiped: raw block devices opened for writing, dd onto a disk, wipefs, blkdiscard."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

DISKS = ("/dev/sd*", "/dev/hd*", "/dev/vd*", "/dev/xvd*", "/dev/nvme*", "/dev/mmcblk*",
         "/dev/dm-*", "/dev/md*", "/dev/mapper/*", "/dev/disk/**")  # fmt: skip
DISK_ARG = re.compile(r"^(of=)?/dev/(sd|hd|vd|xvd|nvme|mmcblk|dm-|md|mapper/|disk/)")


class DiskWipe(Signature):
    id = "impact_disk_wipe"
    name = "Overwrites disks"
    description = (
        "Opens a raw disk or partition (/dev/sda, /dev/vda, /dev/nvme0n1...) for writing, runs "
        "dd with such an output, or runs wipefs, blkdiscard, shred, mkfs, or a partitioner "
        "deleting the table (sgdisk -Z, sfdisk --delete, parted mklabel/rm) on one: the "
        "disk's content and partition table destroyed."
    )
    severity = "critical"
    category = "impact"
    techniques = ("T1561.001", "T1561.002")
    families = ("wiper",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("written", DISKS):
            yield found.evidence(file_summary(found, "opened for writing"))
        for run in ctx.commands("dd"):
            if any(a.startswith("of=") and DISK_ARG.match(a) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("wipefs", "blkdiscard", "shred", "sgdisk", "sfdisk", "parted"):
            name, args = run.item.name, run.item.args
            destroying = name in ("wipefs", "blkdiscard", "shred") or bool(
                {"--zap-all", "-Z", "--delete", "-o", "--clear", "mklabel", "rm"} & set(args)
            )
            if destroying and any(DISK_ARG.match(a) for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands_where(lambda name: name == "mkfs" or name.startswith("mkfs.")):
            if any(DISK_ARG.match(a) for a in run.item.args):
                yield run.evidence(command_summary(run))
