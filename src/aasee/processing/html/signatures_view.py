"""Page sections for the verdict's reasons: matched signatures with their evidence, and the
ATT&CK techniques they map to, grouped by tactic."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..signatures.models import AttackTechnique, SignatureMatch
from .context import PageContext
from .evidence import resolve_evidence
from .tables import Cell
from .textfmt import display

__all__ = [
    "MAX_EVIDENCE",
    "MAX_SIGNATURES",
    "EvidenceItem",
    "SignatureCard",
    "TacticGroup",
    "TechniqueItem",
    "attack_groups",
    "attack_url",
    "signature_cards",
]

MAX_SIGNATURES = 500
MAX_EVIDENCE = 50
"""Evidence items listed per signature; the rest are counted."""

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
_TECHNIQUE_ID = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")


def attack_url(technique_id: str) -> str | None:
    """The ATT&CK page of a well-formed technique id; nothing else becomes a link."""
    if not _TECHNIQUE_ID.fullmatch(technique_id):
        return None
    return "https://attack.mitre.org/techniques/" + technique_id.replace(".", "/") + "/"


@dataclass(frozen=True)
class EvidenceItem:
    summary: str
    description: str
    href: str | None
    process: Cell | None
    broken: bool


@dataclass
class SignatureCard:
    anchor: str
    id: str
    name: str
    description: str
    severity: str
    category: str
    count: int
    techniques: list[Cell] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    evidence_hidden: int = 0
    evidence_truncated: bool = False


@dataclass(frozen=True)
class TechniqueItem:
    anchor: str | None
    id: str
    name: str
    url: str | None
    signatures: list[Cell]
    evidence: int


@dataclass(frozen=True)
class TacticGroup:
    name: str
    techniques: list[TechniqueItem]


def _technique_anchors(ctx: PageContext) -> dict[str, str]:
    return {t.id: f"attack-techniques-{i}" for i, t in enumerate(ctx.report.attack.techniques)}


def _severity(value: str) -> str:
    return value if value in SEVERITY_RANK else "info"


def signature_cards(ctx: PageContext) -> tuple[list[SignatureCard], int]:
    """Matched signatures, most severe first, and how many were left out. Call after every
    table is built, so evidence can link to the rows."""
    techniques = _technique_anchors(ctx)
    ordered = sorted(
        enumerate(ctx.report.signatures),
        key=lambda item: (SEVERITY_RANK.get(item[1].severity, 5), item[1].name),
    )
    cards = []
    for index, sig in ordered[:MAX_SIGNATURES]:
        cards.append(_card(ctx, index, sig, techniques))
    return cards, max(len(ordered) - MAX_SIGNATURES, 0)


def _card(
    ctx: PageContext, index: int, sig: SignatureMatch, techniques: dict[str, str]
) -> SignatureCard:
    card = SignatureCard(
        anchor=ctx.place("signatures", index),
        id=display(sig.id, 80),
        name=display(sig.name, 200),
        description=display(sig.description, 1000),
        severity=_severity(sig.severity),
        category=display(sig.category, 60),
        count=sig.count,
        families=[display(f, 80) for f in sig.families[:20]],
        evidence_hidden=max(len(sig.evidence) - MAX_EVIDENCE, 0),
        evidence_truncated=sig.evidence_truncated,
    )
    for technique in sig.techniques[:50]:
        name = techniques.get(technique)
        card.techniques.append(
            Cell(text=display(technique, 20), href=f"#{name}" if name else attack_url(technique))
        )
    for item in sig.evidence[:MAX_EVIDENCE]:
        resolved = resolve_evidence(ctx, item.ref)
        process = None
        if item.process is not None or item.pid is not None:
            process = ctx.process_cell(item.process, item.pid)
        card.evidence.append(
            EvidenceItem(
                summary=display(item.summary, 300),
                description=resolved.description,
                href=resolved.href,
                process=process,
                broken=resolved.broken,
            )
        )
    return card


def _signature_link(shown_id: str, anchors: dict[str, str]) -> Cell:
    name = anchors.get(shown_id)
    return Cell(text=shown_id, href=f"#{name}" if name else None)


def attack_groups(ctx: PageContext, cards: list[SignatureCard]) -> list[TacticGroup]:
    """Techniques grouped by tactic, in the tactic order the report gives; a technique
    under several tactics is listed under each (anchored at the first)."""
    attack = ctx.report.attack
    signature_anchor: dict[str, str] = {}
    for card in cards:
        signature_anchor.setdefault(card.id, card.anchor)
    anchored: set[int] = set()
    by_id: dict[str, tuple[int, AttackTechnique]] = {
        t.id: (i, t) for i, t in enumerate(attack.techniques)
    }
    order: list[tuple[str, list[str]]] = [(t.name, list(t.techniques)) for t in attack.tactics]
    listed = {name for name, _ in order}
    # Tactics only named on techniques (or no tactic at all) still get a group.
    for technique in attack.techniques:
        for tactic in technique.tactics or ["(no tactic)"]:
            if tactic not in listed:
                order.append((tactic, []))
                listed.add(tactic)
    members = {name: ids for name, ids in order}
    for technique in attack.techniques:
        for tactic in technique.tactics or ["(no tactic)"]:
            if technique.id not in members[tactic]:
                members[tactic].append(technique.id)
    groups = []
    for name, ids in order:
        items = []
        for technique_id in ids[:200]:
            found = by_id.get(technique_id)
            if found is None:
                continue
            index, technique = found
            items.append(
                TechniqueItem(
                    anchor=None if index in anchored else f"attack-techniques-{index}",
                    id=display(technique.id, 20),
                    name=display(technique.name, 120),
                    url=attack_url(technique.id),
                    signatures=[
                        _signature_link(display(sig_id, 80), signature_anchor)
                        for sig_id in technique.signatures[:50]
                    ],
                    evidence=len(technique.evidence),
                )
            )
            anchored.add(index)
        if items:
            groups.append(TacticGroup(name=display(name.replace("-", " "), 60), techniques=items))
    return groups
