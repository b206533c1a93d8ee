"""Archiving through a library: an interpreter reading sensitive files and writing an
archive itself (Python's gzip/zipfile/tarfile, Perl's Archive::Tar...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..facts import INTERPRETERS, file_summary
from ..models import Evidence
from ..query import Found, ReportIndex

ARCHIVES = (".zip", ".gz", ".tgz", ".bz2", ".xz", ".lzma", ".7z", ".tar", ".zst", ".rar", ".z")
SENSITIVE = ("/etc/", "/root/", "/home/", "/var/log/", "/var/www/", "/var/lib/mysql/",
             "/var/mail/", "/var/spool/mail/", "/var/backups/", "/srv/")  # fmt: skip
# What interpreters read for themselves at start or for networking and time.
RUNTIME = ("/etc/ld.so", "/etc/localtime", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
           "/etc/host.conf", "/etc/gai.conf", "/etc/ssl/", "/etc/mime.types", "/etc/python",
           "/etc/perl", "/etc/os-release", "/etc/timezone", "/etc/protocols", "/etc/services",
           "/etc/pki/", "/etc/ca-certificates", "/etc/crypto-policies/", "/etc/inputrc",
           "/root/.local/lib/", "/home/")  # fmt: skip


def _sensitive(path: str) -> bool:
    if not path.startswith(SENSITIVE):
        return False
    if path.startswith("/home/"):
        return "/.local/lib/" not in path and "/site-packages/" not in path
    return not path.startswith(RUNTIME)


class ArchiveViaLibrary(Signature):
    id = "collection_archive_via_library"
    name = "Archives sensitive files from an interpreter"
    description = (
        "A Python, Perl, Ruby, PHP or Node process reads files from /etc, homes, logs, mail "
        "or web and database directories and writes an archive (.zip, .gz, .tar, .bz2, .xz, "
        ".7z) itself, with a compression library instead of an archiving program: data "
        "collected and packed for exfiltration."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1560.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        reads: dict[str, list[Found[Any]]] = {}
        for found in ctx.all_files("read"):
            if found.process is not None and _sensitive(found.item.path):
                reads.setdefault(found.process, []).append(found)
        for write in ctx.all_files("written"):
            key = write.process
            if key not in reads or not write.item.path.lower().endswith(ARCHIVES):
                continue
            if not any(n.startswith(INTERPRETERS) for n in ctx.names(key)):
                continue
            for found in reads[key][:5]:
                yield found.evidence(file_summary(found, "read"))
            yield write.evidence(file_summary(write, "wrote the archive"))
