"""File and directory discovery: whole trees walked and listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

BROAD = ("/", "/home", "/root", "/etc", "/var", "/usr", "/opt", "/srv", "/mnt", "/media",
         "~", "$HOME", ".", "/home/", "/root/", "/var/www", "/data", "/backup")  # fmt: skip
CLEANUP = frozenset({"-delete", "-exec", "-execdir", "-ok", "-okdir"})


def _broad(path: str) -> bool:
    return path.rstrip("/") in {p.rstrip("/") for p in BROAD} or path.startswith(("~/", "$HOME/"))


class FileDirectoryDiscovery(Signature):
    id = "discovery_files_and_directories"
    name = "Walks and lists whole directory trees"
    description = (
        "Runs find over the root, homes, /etc, /var or the current directory (without "
        "deleting or running anything on what it finds), ls -R, tree, or locate: the files "
        "of the host mapped, looking for documents, keys or configuration."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1083",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("find"):
            args = run.item.args
            starts = [a for a in args[:4] if not a.startswith("-")][:1] or ["."]
            if _broad(starts[0]) and not CLEANUP & set(args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ls"):
            args = run.item.args
            recursive = "--recursive" in args or any(
                a.startswith("-") and not a.startswith("--") and "R" in a for a in args
            )
            if recursive:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("tree", "locate", "mlocate", "plocate", "slocate"):
            if not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
