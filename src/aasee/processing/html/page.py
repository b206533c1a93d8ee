"""The whole page as plain data: every section built from a report, cut to size, every
string already made display text. The template only lays it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Report
from ..summary import PSEUDO_DEVICES
from .artefacts_view import evidence_facts, evidence_tables
from .behaviour_view import (
    OutputBlock,
    TreeItem,
    file_tables,
    output_blocks,
    process_tree,
    syscall_tables,
)
from .context import PageContext
from .disk_view import disk_facts, disk_table
from .network_view import capture_facts, network_tables
from .signatures_view import SignatureCard, TacticGroup, attack_groups, signature_cards
from .static_view import StaticView, dropped_table, static_view
from .tables import Cell, Fact, Table, cell
from .textfmt import display

__all__ = ["MAX_WARNINGS", "Page", "build_page"]

MAX_WARNINGS = 200

_VERDICT_CSS = {
    "malicious": "v-malicious",
    "suspicious": "v-suspicious",
    "benign": "v-benign",
    "not executed": "v-not-executed",
}
_TRACE_COUNTERS = (
    ("lost", "events lost (ring buffer overrun)"),
    ("skipped", "lines skipped"),
    ("too_long", "lines too long"),
    ("malformed", "malformed lines"),
    ("garbage", "unreadable lines"),
    ("interrupted", "interrupted calls"),
    ("pre_exec_dropped", "events before the sample's exec (ignored)"),
)


@dataclass
class Page:
    title: str
    sample_name: str
    verdict: str
    verdict_css: str
    score: str
    not_executed: str | None
    """Why the sample was not executed (a banner says so), None when it was."""
    sample_facts: list[Fact]
    analysis_facts: list[Fact]
    overview: list[Fact]
    trace_facts: list[Fact]
    timings: list[Fact]
    score_facts: list[Fact]
    warnings: list[str]
    warnings_hidden: int
    attack: list[TacticGroup]
    attack_release: str
    signatures: list[SignatureCard]
    signatures_hidden: int
    tree: list[TreeItem]
    tree_hidden: int
    file_tables: list[Table]
    dropped: Table
    dropped_static: list[StaticView]
    disk_facts: list[Fact]
    disk: Table | None
    disk_errors: list[str]
    network_tables: list[Table]
    capture: list[Fact]
    static: StaticView | None
    syscall_tables: list[Table]
    output: list[OutputBlock]
    evidence_facts: list[Fact] = field(default_factory=list)
    evidence_tables: list[Table] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    tree_part: str | None = None
    """The file holding the whole tree, when report.json shows its start."""
    """(anchor, title) of the sections present, for the navigation bar."""


def _sample_facts(report: Report) -> list[Fact]:
    sample = report.sample
    facts = [
        Fact("name", cell(sample.name, 300, "mono")),
        Fact("size", Cell(text=f"{sample.size} bytes")),
        Fact("type", cell(sample.type or "unknown", 300)),
        Fact("MD5", cell(sample.md5, 32, "mono")),
        Fact("SHA-1", cell(sample.sha1, 40, "mono")),
        Fact("SHA-256", cell(sample.sha256, 64, "mono")),
    ]
    if report.static is not None and report.static.ssdeep:
        facts.append(Fact("ssdeep", cell(report.static.ssdeep, 200, "mono")))
    return facts


def _analysis_facts(report: Report) -> list[Fact]:
    a = report.analysis
    facts = [Fact("analysis id", cell(a.id, 80, "mono"))]
    for label, value in (
        ("started", a.started),
        ("ended", a.ended),
        ("timeout", f"{a.timeout:g} s" if a.timeout is not None else None),
        ("hypervisor", a.hypervisor),
        ("sandbox", a.sandbox),
        ("isolation", a.isolation),
        ("accelerator", a.accel),
        ("guest image", a.guest_image),
        ("architecture", a.arch),
        ("sample architecture", a.sample_arch),
        ("boot", a.boot),
    ):
        if value is not None:
            facts.append(Fact(label, cell(value, 120)))
    abis = sorted({p.abi for p in report.processes if p.abi is not None})
    if abis:
        facts.append(Fact("syscall ABIs", cell(", ".join(abis), 120)))
    if not a.executed:
        reason = a.not_executed_reason or "no reason recorded"
        facts.append(Fact("executed", Cell(text=f"no: {display(reason, 300)}", css="bad")))
    if a.sandbox == "lxc":
        facts.append(
            Fact("note", Cell(text="container on the host's kernel: weaker isolation", css="bad"))
        )
    if a.accel is not None and a.accel.lower() == "tcg":
        facts.append(Fact("note", Cell(text="software emulation (TCG): slower", css="muted")))
    return facts


def _trace_facts(report: Report) -> list[Fact]:
    trace = report.analysis.trace
    facts = [
        Fact("events", Cell(text=str(trace.events))),
        Fact("lines", Cell(text=str(trace.lines))),
    ]
    for attr, label in _TRACE_COUNTERS:
        value = getattr(trace, attr)
        if value:
            css = "warn" if attr in ("lost", "too_long", "garbage", "malformed") else None
            facts.append(Fact(label, Cell(text=str(value), css=css)))
    for what, count in sorted(trace.truncated.items())[:50]:
        facts.append(Fact(f"cut: {display(what, 40)}", Cell(text=str(count), css="warn")))
    return facts


def _overview(report: Report) -> list[Fact]:
    files = report.files
    net = report.network

    def unseen(name: str, present: list[Any]) -> int:
        # The entries of a list report.json cuts that this report does not hold.
        return PageContext.unseen(report.paged.get(name), len(present))

    names = {d.name for d in net.dns_traffic}
    written = sum(1 for w in files.written if w.path not in PSEUDO_DEVICES)
    counts = (
        ("processes", len(report.processes) + unseen("processes", report.processes)),
        ("files written", written + unseen("files.written", files.written)),
        ("files deleted", len(files.deleted) + unseen("files.deleted", files.deleted)),
        ("dropped files", len(report.dropped) + unseen("dropped", report.dropped)),
        *(
            [("disk changes (not traced)", f"{len(fs.changes)} ({fs.untraced})")]
            if (fs := report.filesystem) is not None
            else []
        ),
        (
            "connections",
            len(net.connections)
            + len(net.udp)
            + unseen("network.connections", net.connections)
            + unseen("network.udp", net.udp),
        ),
        ("DNS names", len(names)),
        ("HTTP requests", len(net.http) + unseen("network.http", net.http)),
        ("TLS handshakes", len(net.tls) + unseen("network.tls", net.tls)),
        ("signatures", len(report.signatures)),
        ("ATT&CK techniques", len(report.attack.techniques)),
    )
    return [Fact(label, Cell(text=str(value))) for label, value in counts]


def _score_facts(report: Report) -> list[Fact]:
    details = report.score_details
    if details is None:
        return []
    facts = []
    if details.reason is not None:
        facts.append(Fact("not scored", cell(details.reason, 500)))
    facts.append(Fact("formula", cell(details.formula, 300)))
    for name, value in list(details.components.items())[:50]:
        facts.append(Fact(display(name, 60), Cell(text=f"{value:g}")))
    return facts


def build_page(report: Report) -> Page:
    ctx = PageContext(report)
    # Order matters only for links: rows must be anchored before what links to them.
    tree, tree_hidden = process_tree(ctx)
    files = file_tables(ctx)
    dropped = dropped_table(ctx)
    dropped_static = [
        static_view(ctx, d.static, ("dropped", i, "static"), display(d.path, 200))
        for i, d in enumerate(report.dropped[:100])
        if d.static is not None
    ]
    disk = disk_table(ctx)
    network = network_tables(ctx)
    static = (
        static_view(ctx, report.static, ("static",), "Sample")
        if report.static is not None
        else None
    )
    syscalls = syscall_tables(ctx)
    output = output_blocks(ctx)
    evidence = evidence_tables(ctx)
    cards, cards_hidden = signature_cards(ctx)
    groups = attack_groups(ctx, cards)
    verdict = report.verdict or "no verdict"
    not_executed = None
    if not report.analysis.executed:
        reason = (report.analysis.not_executed_reason or "").strip().rstrip(".")
        not_executed = display(reason or "no reason recorded", 500)
    page = Page(
        title=f"AASEE report: {display(report.sample.name, 80)}",
        sample_name=display(report.sample.name, 300),
        verdict=verdict,
        verdict_css=_VERDICT_CSS.get(verdict, "v-none"),
        score="–" if report.score is None else f"{report.score:.1f} / 10",
        not_executed=not_executed,
        sample_facts=_sample_facts(report),
        analysis_facts=_analysis_facts(report),
        overview=_overview(report),
        trace_facts=_trace_facts(report),
        timings=[
            Fact(display(name, 40), Cell(text=f"{seconds:.2f} s"))
            for name, seconds in list(report.analysis.timings.items())[:50]
        ],
        score_facts=_score_facts(report),
        warnings=[display(e, 500) for e in report.errors[:MAX_WARNINGS]],
        warnings_hidden=max(len(report.errors) - MAX_WARNINGS, 0),
        attack=groups,
        attack_release=display(report.attack.release or "", 40),
        signatures=cards,
        signatures_hidden=cards_hidden,
        tree=tree,
        tree_hidden=tree_hidden,
        tree_part=part.path if (part := ctx.part("process_tree")) is not None else None,
        file_tables=files,
        dropped=dropped,
        dropped_static=dropped_static,
        disk_facts=disk_facts(report.filesystem),
        disk=disk,
        disk_errors=[
            display(e, 500) for e in (report.filesystem.errors[:50] if report.filesystem else [])
        ],
        network_tables=network,
        capture=capture_facts(ctx),
        static=static,
        syscall_tables=syscalls,
        output=output,
        evidence_facts=evidence_facts(report.evidence),
        evidence_tables=evidence,
    )
    page.sections = [
        (anchor, title)
        for anchor, title, present in (
            ("summary", "Summary", True),
            ("attack", "ATT&CK", bool(groups)),
            ("signatures", "Signatures", bool(cards)),
            ("processes", "Processes", bool(tree)),
            ("files", "Files", bool(files)),
            ("dropped", "Dropped", bool(dropped.total)),
            ("disk", "Disk", disk is not None),
            ("network", "Network", True),
            ("static", "Static", static is not None),
            ("syscalls", "System calls", bool(syscalls)),
            ("output", "Output", bool(output)),
            ("evidence", "Evidence", bool(evidence)),
        )
        if present
    ]
    return page
