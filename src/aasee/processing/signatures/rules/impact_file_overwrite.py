"""Data destruction: existing files overwritten with zeros or random data."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, command_summary
from ..models import Evidence
from ..query import ReportIndex

FILLERS = frozenset({"if=/dev/zero", "if=/dev/urandom", "if=/dev/random"})
DATA = ("/var/log/", "/etc/", "/home/", "/root/", "/var/lib/", "/srv/", "/var/www/",
        "/var/mail/", "/var/spool/", "/boot/", "/usr/", "/opt/", "/var/backups/", "/bin/",
        "/sbin/", "/lib")  # fmt: skip
# Made with dd from zeros as a matter of course: swap files and disk images.
MADE = ("swap", ".img", ".iso", ".raw", ".qcow2", ".vdi", ".vmdk")


class FileOverwrite(Signature):
    id = "impact_file_overwrite"
    name = "Overwrites files with zeros or random data"
    description = (
        "Runs dd from /dev/zero or /dev/urandom into a file of the system or of users (logs, "
        "/etc, homes, data and web directories...) that the sample had not written before: "
        "its content destroyed in place. Swap files and disk images made with dd are not "
        "counted; disks have impact_disk_wipe."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1485",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        first_write: dict[str, float] = {}
        for found in ctx.all_files("written"):
            first_write.setdefault(found.item.path, found.item.time)
        exec_time = {run.ref: run.item.time for run in ctx.execs()}
        for run in ctx.commands("dd"):
            args = set(run.item.args)
            target = next((a[3:] for a in run.item.args if a.startswith("of=")), None)
            if not args & FILLERS or target is None or not target.startswith(DATA):
                continue
            if target.startswith(TEMP_DIRS) or any(m in target.lower() for m in MADE):
                continue
            written = first_write.get(target)
            started = exec_time.get(run.ref, float("inf"))
            if written is None or written >= started:
                yield run.evidence(command_summary(run))
