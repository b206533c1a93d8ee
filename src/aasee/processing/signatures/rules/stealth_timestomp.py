"""Timestomping: file times set to chosen values (touch -d/-r/-t), or set on files the
process did not create."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, command_summary, has_option
from ..models import Evidence
from ..query import ReportIndex

TIME_OPTIONS = ("-d", "-t", "-r", "--date", "--reference")
TIME_SYSCALLS = ("utimensat", "utimes", "utime", "futimesat")
# Programs that set times as part of their job (copying, archiving, installing).
COPIERS = frozenset(
    {"touch", "tar", "cp", "mv", "rsync", "unzip", "install", "gzip", "gunzip", "bzip2", "xz",
     "zstd", "7z", "7za", "cpio", "dpkg", "apt", "apt-get", "make", "patch", "scp", "wget",
     "curl", "git", "ar", "ld", "python3", "pip", "pip3"}
)  # fmt: skip


class Timestomp(Signature):
    id = "stealth_timestomp"
    name = "Changes file timestamps"
    description = (
        "Runs touch with -d/-t/-r (a chosen date, or another file's), or a program that is "
        "not a copy/archive/install tool calls utimensat/utimes without having created any "
        "file: timestamps forged so a file looks old or blends in."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1070.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("touch"):
            clustered = any(
                a.startswith("-") and not a.startswith("--") and a[-1:] in ("d", "t", "r")
                for a in run.item.args
            )
            if has_option(run.item, *TIME_OPTIONS) or clustered:
                yield run.evidence(command_summary(run))
        creators = {f.process for f in ctx.all_files("created")}
        creators.update(f.process for f in ctx.all_files("renamed"))
        for use in ctx.syscalls(TIME_SYSCALLS):
            image = basename(ctx.image_of(use.process))
            if image not in COPIERS and use.process not in creators:
                yield use.evidence(
                    f"{image or 'a process'} called {use.item.name} {use.item.count} times "
                    "without creating any file"
                )
