"""YARA rules matched the sample or a dropped file."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

# Tags that describe the file rather than name a family.
GENERIC_TAGS = frozenset(
    {"linux", "elf", "pe", "windows", "macho", "script", "generic", "suspicious", "packer",
     "packed", "upx", "hacktool", "tool", "heuristic", "file", "static", "bundled", "user",
     "iot"}
)  # fmt: skip
# Tags of the bundled rules under the family names the behaviour signatures use.
ALIASES = {"miner": "coinminer", "shell": "reverse-shell"}


class YaraMatchSignature(Signature):
    id = "static_yara"
    name = "Matches YARA rules"
    description = (
        "A YARA rule (of the bundled set or the user's) matched the sample or a file it "
        "dropped; the rule's tags that name families are reported as families."
    )
    severity = "medium"
    category = "static"

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for static in ctx.static_files():
            for i, hit in enumerate(static.item.static.yara):
                found = Found(hit, static.ref + pointer("yara", i), static.process, static.pid)
                tags = f" [{', '.join(hit.tags)}]" if hit.tags else ""
                yield found.evidence(
                    f"{static.item.label} matches {hit.source} rule {hit.rule}{tags}"
                )

    def families_of(self, evidence: list[Evidence], ctx: ReportIndex) -> tuple[str, ...]:
        refs = {item.ref for item in evidence}
        families: list[str] = []
        for static in ctx.static_files():
            for i, hit in enumerate(static.item.static.yara):
                if static.ref + pointer("yara", i) in refs:
                    tags = (t.lower() for t in hit.tags)
                    families.extend(ALIASES.get(t, t) for t in tags if t not in GENERIC_TAGS)
        return tuple(dict.fromkeys(families))
