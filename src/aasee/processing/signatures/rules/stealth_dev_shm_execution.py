"""Programs run from shared memory (/dev/shm): a tmpfs that leaves nothing on disk."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

SHM = ("/dev/shm/", "/run/shm/", "/var/run/shm/")


class DevShmExecution(Signature):
    id = "stealth_dev_shm_execution"
    name = "Runs a program from /dev/shm"
    description = (
        "Executes a file stored in /dev/shm, or hands one to an interpreter as its script "
        "(sh /dev/shm/x): a memory file system where droppers stage payloads that vanish at "
        "reboot and escape disk scans."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1564",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.runs():
            if run.item.path.startswith(SHM):
                yield run.evidence(run.item.summary)
