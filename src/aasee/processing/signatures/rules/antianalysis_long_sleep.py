"""Long sleeps: waiting minutes before acting, to outlast a sandbox's run."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
LONG = 120


def seconds(args: tuple[str, ...]) -> float:
    total = 0.0
    for arg in args:
        match = DURATION.match(arg)
        if match:
            total += float(match.group(1)) * UNITS[match.group(2)]
    return total


class LongSleep(Signature):
    id = "antianalysis_long_sleep"
    name = "Sleeps for minutes"
    description = (
        f"Runs sleep for {LONG} seconds or more (or ping -c N with N as long, the sleep of "
        "scripts without one): waiting out a sandbox that watches a sample for a minute or "
        "two. (This sandbox skips idle time, so what follows the sleep is still seen.)"
    )
    severity = "low"
    category = "anti-analysis"
    techniques = ("T1497.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("sleep"):
            if seconds(run.item.args) >= LONG:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ping"):
            args = run.item.args
            counts = [b for a, b in zip(args, args[1:], strict=False) if a == "-c"]
            local = any(a.startswith("127.") or a == "localhost" for a in args)
            if local and counts and counts[0].isdigit() and int(counts[0]) >= LONG:
                yield run.evidence(command_summary(run))
