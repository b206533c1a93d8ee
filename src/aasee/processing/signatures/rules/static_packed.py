"""Packed executables: the sample or a dropped file carries a packer's marks (UPX...)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer


class PackedExecutable(Signature):
    id = "static_packed"
    name = "Is packed"
    description = (
        "Static analysis found a packer (UPX or another) in the sample or in a file it "
        "dropped: the real code is compressed or encrypted and unpacked only at run time, "
        "out of reach of static inspection."
    )
    severity = "medium"
    category = "static"
    techniques = ("T1027.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for static in ctx.static_files():
            for section in ("elf", "pe"):
                info = getattr(static.item.static, section)
                for i, packer in enumerate(info.packers if info is not None else ()):
                    found = Found(
                        packer,
                        static.ref + pointer(section, "packers", i),
                        static.process,
                        static.pid,
                    )
                    yield found.evidence(f"{static.item.label} is packed with {packer}")
