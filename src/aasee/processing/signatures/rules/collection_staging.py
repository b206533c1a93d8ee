"""Data staged for exfiltration: files gathered by find -exec into one place, or sensitive
files copied into a temporary or hidden directory."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

GATHERING = frozenset({"cp", "mv", "rsync", "tar", "zip", "7z", "cat", "install", "ln"})
SENSITIVE = ("/etc/shadow", "/etc/passwd", "/etc/group", "/etc/sudoers", "/etc/ssh/",
             "/root/", "/home/", "/var/www/", "/var/lib/mysql/", "/var/mail/",
             "/var/spool/mail/", "/var/log/")  # fmt: skip
CP_VALUED = frozenset({"-t", "--target-directory", "-S", "--suffix", "--backup"})


def _hidden(path: str) -> bool:
    return any(p.startswith(".") and p not in (".", "..") for p in path.split("/"))


class DataStaging(Signature):
    id = "collection_staging"
    name = "Gathers files into a staging place"
    description = (
        "Runs find with -exec/-execdir (or xargs) copying, moving or archiving what it "
        "finds, or copies sensitive files (/etc/shadow, /etc/ssh, homes, mail, web and "
        "database data, logs) into /tmp, /var/tmp, /dev/shm or a hidden directory: data "
        "collected in one place, ready to be archived and sent."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1074.001", "T1119")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("find"):
            args = run.item.args
            actions = [
                b.rsplit("/", 1)[-1]
                for a, b in zip(args, args[1:], strict=False)
                if a in ("-exec", "-execdir", "-ok")
            ]
            if GATHERING & set(actions):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("xargs"):
            if GATHERING & set(run.item.args[:4]):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("cp", "rsync", "install"):
            words = operands(run.item, CP_VALUED)
            if len(words) < 2:
                continue
            *sources, target = words
            staging = target.startswith(TEMP_DIRS) or _hidden(target)
            if staging and any(s.startswith(SENSITIVE) for s in sources):
                yield run.evidence(command_summary(run))
