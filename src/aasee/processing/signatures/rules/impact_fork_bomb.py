"""Fork bombs: processes multiplying without running anything, faster than any program does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

WINDOW = 5.0
"""Seconds."""
FORKS = 100


class ForkBomb(Signature):
    id = "impact_fork_bomb"
    name = "Floods the system with processes"
    description = (
        f"{FORKS} or more processes that never executed a program, started within "
        f"{WINDOW:.0f} seconds, or so many processes that the report's process limit was "
        "reached: a fork bomb exhausting the process table. (Builds start many processes too, "
        "but each of them runs a program.)"
    )
    severity = "high"
    category = "impact"
    techniques = ("T1499.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        truncated = ctx.report.analysis.trace.truncated.get("processes", 0)
        if truncated:
            found: Found[Any] = Found(
                truncated, pointer("analysis", "trace", "truncated", "processes")
            )
            yield found.evidence(
                f"{truncated} processes beyond the report's limit were not recorded"
            )
        forks = sorted(
            (
                f
                for f in ctx.processes()
                if not f.item.execs and f.item.start is not None and f.item.parent
            ),
            key=lambda f: f.item.start or 0.0,
        )
        starts = [f.item.start or 0.0 for f in forks]
        best_first, best_end, first = 0, 0, 0
        for end, start in enumerate(starts, 1):
            while start - starts[first] > WINDOW:
                first += 1
            if end - first > best_end - best_first:
                best_first, best_end = first, end
        best = forks[best_first:best_end]
        if len(best) >= FORKS:
            for item in best:
                yield item.evidence(
                    f"pid {item.item.pid} forked without executing anything "
                    f"({len(best)} such processes within {WINDOW:.0f} s)"
                )
