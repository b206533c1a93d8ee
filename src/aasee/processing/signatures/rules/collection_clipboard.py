"""Clipboard data read: xclip -o, xsel -o, wl-paste."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

WRITING = frozenset({"-i", "-in", "--input", "-a", "--append", "-c", "--clear", "-d",
                     "--delete", "-k", "--keep", "-x", "--exchange"})  # fmt: skip


class ClipboardRead(Signature):
    id = "collection_clipboard"
    name = "Reads the clipboard"
    description = (
        "Runs xclip -o, xsel with -o/--output (or reading by default), wl-paste or xdotool "
        "getclipboard: what the user copied (passwords from a manager, wallet addresses, "
        "commands) is collected."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1115",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("xclip"):
            if {"-o", "-out", "-output"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("xsel"):
            args = set(run.item.args)
            if {"-o", "--output"} & args or not args & WRITING:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("wl-paste", "clipnotify", "copyq"):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("xdotool"):
            if "getclipboard" in run.item.args:
                yield run.evidence(command_summary(run))
