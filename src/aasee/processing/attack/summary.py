"""The report's ATT&CK section: the techniques matched signatures name, grouped by tactic.

Owns :func:`attack_summary`. Technique ids are reported as v19 numbers them; names and
tactics come from the shipped v18.1 data, with v19's moves and tactic changes applied (see
:mod:`.lookup`). A technique the data does not know is still listed, under its id, with no
tactic, so nothing a signature claims is silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..signatures.models import AttackSummary, AttackTactic, AttackTechnique, SignatureMatch
from .lookup import IDS_AS_OF, RELEASE, current_id, tactic, tactic_order, technique

__all__ = ["attack_summary"]

_MAX_EVIDENCE = 50
"""Evidence refs kept per technique (the matches keep all of theirs)."""


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def attack_summary(matches: list[SignatureMatch]) -> AttackSummary:
    """Techniques of ``matches`` with names, v19 tactics and the evidence behind them."""
    signatures: dict[str, list[str]] = {}
    evidence: dict[str, list[str]] = {}
    for match in matches:
        refs = [item.ref for item in match.evidence]
        for tid in match.techniques:
            tid = current_id(tid)
            signatures.setdefault(tid, []).append(match.id)
            evidence.setdefault(tid, []).extend(refs)
    techniques: list[AttackTechnique] = []
    by_tactic: dict[str, list[str]] = {}
    for tid in sorted(signatures):
        info = technique(tid)
        shortnames = info.tactics if info is not None else ()
        for shortname in shortnames:
            by_tactic.setdefault(shortname, []).append(tid)
        techniques.append(
            AttackTechnique(
                id=tid,
                name=info.name if info is not None else tid,
                tactics=[tactic(s).name for s in shortnames],
                release_id=info.release_id if info is not None else None,
                signatures=_unique(signatures[tid]),
                evidence=_unique(evidence[tid])[:_MAX_EVIDENCE],
            )
        )
    order = {name: i for i, name in enumerate(tactic_order())}
    tactics = [
        AttackTactic(id=tactic(s).id, name=tactic(s).name, techniques=by_tactic[s])
        for s in sorted(by_tactic, key=lambda s: (order.get(s, len(order)), s))
    ]
    return AttackSummary(
        release=RELEASE, ids_as_of=IDS_AS_OF, techniques=techniques, tactics=tactics
    )
