"""Page section for the run's evidence: where each artefact is, the memory dumps and
screenshots, and the URLs, domains and addresses memory held that the trace did not show.

Paths are shown as text (relative to the results directory), never as links: the report
page is served on its own, without the files beside it.
"""

from __future__ import annotations

from ..models import MemoryIndicator, RunEvidence
from .context import PageContext, build_table, short_time
from .tables import Cell, Fact, Table, cell

__all__ = ["evidence_facts", "evidence_tables"]


def evidence_facts(evidence: RunEvidence | None) -> list[Fact]:
    if evidence is None:
        return []
    facts = [Fact("files", Cell(text=str(len(evidence.artefacts))))]
    if evidence.memory_dumps:
        facts.append(Fact("memory dumps", Cell(text=str(len(evidence.memory_dumps)))))
    shots = evidence.screenshots
    if shots is not None:
        text = (
            f"{len(shots.frames)} kept of {shots.taken} taken ({shots.unchanged} unchanged)"
            if shots.display
            else "none: the guest has no display"
        )
        facts.append(Fact("screenshots", Cell(text=text)))
    strings = evidence.memory_strings
    if strings is not None:
        found = len(strings.urls) + len(strings.domains) + len(strings.ips)
        facts.append(
            Fact(
                "in memory only",
                Cell(
                    text=f"{found} URLs, domains and addresses"
                    + (" (lists cut)" if strings.truncated else ""),
                    css="bad" if found else None,
                ),
            )
        )
        facts.append(
            Fact(
                "memory baseline",
                cell(strings.baseline or "none (cold boot): lists include guest noise", 200),
            )
        )
    for error in evidence.errors[:10]:
        facts.append(Fact("problem", cell(error, 300, "warn")))
    return facts


def _indicator_cells(item: MemoryIndicator) -> list[Cell]:
    return [
        cell(item.value, 300, "mono"),
        Cell(text=str(item.count)),
        cell(", ".join(item.dumps[:3]), 200, "mono"),
    ]


def evidence_tables(ctx: PageContext) -> list[Table]:
    evidence = ctx.report.evidence
    if evidence is None:
        return []
    tables = []
    strings = evidence.memory_strings
    if strings is not None:
        for kind, title in (
            ("urls", "URLs in memory only"),
            ("domains", "Domains in memory only"),
            ("ips", "IPv4 addresses in memory only"),
        ):
            items = getattr(strings, kind)
            if items:
                tables.append(
                    build_table(
                        ctx,
                        title,
                        ("evidence", "memory_strings", kind),
                        items,
                        ["value", "count", "dumps"],
                        _indicator_cells,
                    )
                )
    if evidence.memory_dumps:
        tables.append(
            build_table(
                ctx,
                "Memory dumps",
                ("evidence", "memory_dumps"),
                evidence.memory_dumps,
                ["file", "event", "time", "memory", "stored", "dump took"],
                lambda d: [
                    cell(d.path, 200, "mono"),
                    cell(d.event, 60),
                    short_time(d.time_utc),
                    Cell(text=f"{d.raw_bytes >> 20} MiB ({d.format}, {d.elf_type or '?'})"),
                    Cell(text=f"{d.bytes >> 20} MiB ({d.compression or 'raw'})"),
                    Cell(text="" if d.dump_seconds is None else f"{d.dump_seconds:.2f} s"),
                ],
            )
        )
    shots = evidence.screenshots
    if shots is not None and shots.frames:
        tables.append(
            build_table(
                ctx,
                "Screenshots",
                ("evidence", "screenshots", "frames"),
                shots.frames,
                ["file", "why", "time", "size"],
                lambda f: [
                    cell(f.path, 200, "mono"),
                    cell(f.reason, 60),
                    short_time(f.time_utc),
                    Cell(text=f"{f.width}x{f.height}"),
                ],
                collapsed=len(shots.frames) > 20,
            )
        )
    tables.append(
        build_table(
            ctx,
            "Files of the run",
            ("evidence", "artefacts"),
            evidence.artefacts,
            ["path", "what", "size", "SHA-256"],
            lambda a: [
                cell(a.path, 200, "mono"),
                cell(a.kind, 60),
                Cell(text=f"{a.size} bytes"),
                cell(a.sha256 or "-", 64, "mono"),
            ],
            note="paths are relative to the results directory (where report.json is)",
        )
    )
    return tables
