"""Software packing: a packer (UPX and the like) run on a program."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

PACKERS = ("upx", "upx-ucl", "mpress", "kiteshield", "ezuri", "midgetpack", "shiva", "burneye")
NOT_PACKING = frozenset({"-d", "--decompress", "-t", "--test", "-l", "--list", "-V", "--version",
                         "-h", "--help", "-L", "--license"})  # fmt: skip


class PackBinary(Signature):
    id = "stealth_pack_binary"
    name = "Packs a program"
    description = (
        "Runs UPX or another executable packer (mpress, kiteshield, ezuri...) to compress or "
        "encrypt a program: its code and strings hidden from static analysis and hashes. "
        "Unpacking, testing or listing is not counted."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1027.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*PACKERS):
            args = run.item.args
            if args and not NOT_PACKING & set(args):
                yield run.evidence(command_summary(run))
