"""Sensitive directories archived: tar/zip/7z of /etc, /root, /home, ~/.ssh and the like."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

ARCHIVERS = ("tar", "zip", "7z", "7za", "7zr", "rar", "gzip", "bzip2", "xz", "zstd", "lzma",
             "cpio", "pax")  # fmt: skip
SENSITIVE_DIRS = ("/etc", "/root", "/home", "/var/lib/mysql", "/var/www", "/var/backups",
                  "/var/log", "/var/mail", "/var/spool/mail", "$HOME", "~")  # fmt: skip
ROTATORS = frozenset({"logrotate", "savelog"})
DECOMPRESSING = frozenset({"-d", "--decompress", "--uncompress", "-t", "--test", "-l", "--list"})
SENSITIVE_WORDS = (".ssh", ".gnupg", ".aws", "shadow", "id_rsa", ".bash_history", "wallet")


def _sensitive(arg: str) -> bool:
    if any(word in arg for word in SENSITIVE_WORDS):
        return True
    return any(arg == d or arg.startswith(d + "/") for d in SENSITIVE_DIRS)


def _extracting(name: str, args: tuple[str, ...]) -> bool:
    if name in ("gzip", "bzip2", "xz", "zstd", "lzma"):
        return bool(DECOMPRESSING & set(args)) or any(
            a.startswith("-") and not a.startswith("--") and ("d" in a or "t" in a) for a in args
        )
    if name in ("cpio", "pax"):
        return not any(a in ("-o", "--create", "-w") for a in args)
    if name != "tar" or not args:
        return (
            name in ("7z", "7za", "7zr", "rar") and bool(args) and args[0] in ("x", "e", "l", "t")
        )
    first = args[0].lstrip("-")
    long_options = {"--extract", "--get", "--list", "--diff", "--compare"}
    return bool(long_options & set(args)) or (
        not args[0].startswith("--") and bool({"x", "t", "d"} & set(first))
    )


class ArchiveSensitiveData(Signature):
    id = "collection_archive_sensitive"
    name = "Archives sensitive directories"
    description = (
        "Runs tar, zip, 7z, rar, cpio or a compressor (gzip, bzip2, xz, zstd) on /etc, /root, "
        "/home, logs, mail, web or database directories, SSH or GnuPG keys: data gathered "
        "into one file, ready to be sent away. Extracting, testing or listing an archive is "
        "not counted."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1560.001", "T1005")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*ARCHIVERS):
            name, args = run.item.name, run.item.args
            if any(ctx.names(p.key) & ROTATORS for p in ctx.lineage(run.process)):
                continue  # logrotate compressing old logs
            if not _extracting(name, args) and any(_sensitive(a) for a in args):
                yield run.evidence(command_summary(run))
