"""Suspicious constructs static analysis found in a script (the sample or a dropped one)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer


class ScriptIndicators(Signature):
    id = "static_script_indicators"
    name = "Script contains suspicious constructs"
    description = (
        "Static analysis of a script flagged constructs such as download-and-run, decoding "
        "and evaluating data, or history tampering. Each is named by its indicator id; "
        "whether the script acted on them is for the behaviour signatures to say."
    )
    severity = "low"
    category = "static"
    techniques = ("T1059",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for static in ctx.static_files():
            script = static.item.static.script
            for i, indicator in enumerate(script.indicators if script is not None else ()):
                ref = static.ref + pointer("script", "indicators", i)
                found = Found(indicator, ref, static.process, static.pid)
                yield found.evidence(
                    f"{static.item.label} line {indicator.line}: {indicator.id} ({indicator.text})"
                )
