"""Scoring: the documented formula, diminishing returns, bonuses and verdict thresholds."""

from __future__ import annotations

import pytest

from aasee.processing.scoring import FORMULA, score, verdict_for
from aasee.processing.signatures.models import Severity, SignatureMatch


def m(
    severity: Severity, category: str = "impact", families: tuple[str, ...] = ()
) -> SignatureMatch:
    return SignatureMatch(
        id=f"{severity}_{category}",
        name="n",
        description="d",
        severity=severity,
        category=category,
        families=list(families),
    )


@pytest.mark.parametrize(
    ("matches", "expected", "verdict"),
    [
        ([], 0.0, "benign"),
        ([m("info")] * 10, 0.0, "benign"),
        ([m("low")], 0.5, "benign"),
        ([m("low")] * 30, 1.0, "benign"),  # many weak findings never add up to a strong one
        ([m("medium")], 2.0, "benign"),
        ([m("medium"), m("medium")], 3.0, "suspicious"),
        ([m("high")], 3.5, "suspicious"),
        ([m("high", "persistence"), m("high", "impact")], 5.8, "suspicious"),  # 5.75
        ([m("critical")], 6.5, "malicious"),
        ([m("high", "persistence"), m("medium", "stealth")], 6.0, "malicious"),
        ([m("high")] * 40 + [m("critical")] * 40, 10.0, "malicious"),  # capped
    ],
)
def test_formula_and_thresholds(
    matches: list[SignatureMatch], expected: float, verdict: str
) -> None:
    value, got, details = score(matches)
    assert (value, got) == (expected, verdict)
    assert details.formula == FORMULA
    assert details.components["score"] == value


def test_components_explain_the_score() -> None:
    matches = [
        m("high", "impact", ("coinminer",)),
        m("medium", "command-and-control", ("coinminer",)),
        m("medium", "stealth"),
        m("low", "discovery"),
    ]
    value, verdict, details = score(matches)
    c = details.components
    assert c["count.high"] == 1 and c["count.medium"] == 2 and c["count.low"] == 1
    assert c["severity.high"] == 3.5 and c["severity.medium"] == 3.0 and c["severity.low"] == 0.5
    assert c["categories"] == 3 and c["breadth"] == 1.0  # low findings do not widen
    assert c["family"] == 1.0  # two medium+ matches agree on coinminer
    assert c["raw"] == 9.0 and value == 9.0 and verdict == "malicious"


def test_breadth_is_capped_and_one_family_counts_half() -> None:
    categories = [
        "persistence",
        "stealth",
        "impact",
        "discovery",
        "execution",
        "collection",
        "exfiltration",
    ]
    matches = [m("medium", c) for c in categories]
    _, _, details = score(matches)
    assert details.components["breadth"] == 2.0
    _, _, details = score([m("medium", families=("ransomware",))])
    assert details.components["family"] == 0.5


@pytest.mark.parametrize(
    ("value", "verdict"),
    [(2.99, "benign"), (3.0, "suspicious"), (5.99, "suspicious"), (6.0, "malicious")],
)
def test_verdict_edges(value: float, verdict: str) -> None:
    assert verdict_for(value) == verdict
