"""System recovery inhibited: snapshots, logical volumes and backups destroyed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

BACKUPS = ("/var/backups/**", "/backup/**", "/backups/**", "/var/lib/backup*/**", "/srv/backup*/**",
           "/mnt/backup*/**", "/boot/**", "/var/lib/snapper/**", "/timeshift/**",
           "/.snapshots/**")  # fmt: skip


class InhibitRecovery(Signature):
    id = "impact_inhibit_recovery"
    name = "Destroys snapshots or backups"
    description = (
        "Removes logical volumes or volume groups (lvremove, vgremove), btrfs subvolumes, ZFS "
        "datasets or snapshots, snapper or Timeshift snapshots, or deletes files under "
        "backup directories or /boot: the way back after destruction or encryption taken "
        "away. Package installations are not counted."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1490",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("lvremove", "vgremove", "pvremove"):
            if run.item.args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("lvm"):
            if run.item.args[:1] in (("lvremove",), ("vgremove",)):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("btrfs"):
            args = run.item.args
            if "subvolume" in args and "delete" in args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("zfs"):
            if run.item.args[:1] == ("destroy",):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("snapper"):
            if {"delete", "rm", "remove"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("timeshift"):
            if any(a.startswith("--delete") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("deleted", BACKUPS):
            if found.item.path not in ctx.created_paths and not ctx.installing(found.process):
                yield found.evidence(file_summary(found, "deleted"))
