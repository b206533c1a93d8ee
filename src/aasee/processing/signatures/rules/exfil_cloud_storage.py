"""Exfiltration to cloud storage: rclone, the cloud providers' command lines, MEGA, Dropbox
uploaders."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

RCLONE_SENDING = frozenset({"copy", "sync", "move", "copyto", "moveto", "rcat"})
UPLOADERS = ("mega-put", "megaput", "megacopy", "dropbox_uploader", "dropbox_uploader.sh",
             "gdrive", "skicka", "b2", "azcopy")  # fmt: skip


class CloudStorageExfiltration(Signature):
    id = "exfil_cloud_storage"
    name = "Uploads data to cloud storage"
    description = (
        "Runs rclone copy/sync/move to a remote, aws s3 cp/sync/mv to s3://, gsutil or gcloud "
        "storage cp to gs://, az storage blob upload, azcopy, or a MEGA, Dropbox or Google "
        "Drive uploader: data copied to a storage account the attacker controls."
    )
    severity = "medium"
    category = "exfiltration"
    techniques = ("T1567.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("rclone"):
            words = operands(run.item)
            if words[:1] and words[0] in RCLONE_SENDING and any(":" in w for w in words[2:]):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("aws", "s3cmd"):
            args = run.item.args
            sending = {"cp", "sync", "mv", "put", "upload"} & set(args)
            if sending and args and any(a.startswith("s3://") for a in args[-1:]):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("gsutil", "gcloud"):
            args = run.item.args
            if {"cp", "rsync", "mv"} & set(args) and args and args[-1].startswith("gs://"):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("az"):
            args = run.item.args
            if "storage" in args and ("upload" in args or "upload-batch" in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*UPLOADERS):
            args = run.item.args
            if run.item.name.startswith(("mega", "azcopy")) or {"upload", "push"} & set(args):
                yield run.evidence(command_summary(run))
