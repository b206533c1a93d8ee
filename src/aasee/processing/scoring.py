"""The report's score (0-10) and verdict, from the signatures that matched.

Formula, per severity ``s`` with ``n_s`` matched signatures::

    severity part   = sum over s of  w_s * (1 + r + r^2 + ... + r^(n_s - 1))
    breadth bonus   = 0.5 * (number of categories among medium+ matches - 1), at most 2.0
    family bonus    = 1.0 if a family is named by two or more medium+ matches,
                      0.5 if one is named by one, else 0
    score           = min(10, severity part + breadth bonus + family bonus), one decimal

with weights ``w`` = info 0, low 0.5, medium 2.0, high 3.5, critical 6.5 and ``r = 0.5``:
each further match of the same severity counts half the previous one, so twenty low
findings (at most 2 * 0.5 = 1.0 together) never add up to one real one, and a severity's part
never exceeds twice its weight. The bonuses reward independent evidence: behaviour spanning
several tactics, or several signatures agreeing on a family (coinminer, ransomware...).

Verdict thresholds:

- ``benign``: score < 3.0 -- low and info findings only (together at most 1.0), or a single
  medium one (2.0, 2.5 with a family).
- ``suspicious``: 3.0 <= score < 6.0 -- two medium findings (2.0 + 1.0), one high finding
  (3.5), or two high findings in different categories (3.5 + 1.75 + 0.5 = 5.75).
- ``malicious``: score >= 6.0 -- any critical finding (6.5) alone; a high and a medium finding
  in different categories (3.5 + 2.0 + 0.5); two high ones that agree on a family or are
  joined by a third finding.

A run in which the guest did not execute the sample is not scored at all
(:func:`not_executed`): the verdict is ``not executed`` and the score null, whatever the
signatures (static ones still match) say, because the absence of behaviour there proves
nothing -- such a run must never read as benign.
"""

from __future__ import annotations

from .signatures.models import ScoreDetails, Severity, SignatureMatch, Verdict

__all__ = [
    "BENIGN_BELOW",
    "DECAY",
    "FORMULA",
    "MALICIOUS_FROM",
    "WEIGHTS",
    "not_executed",
    "score",
    "verdict_for",
]

WEIGHTS: dict[Severity, float] = {
    "info": 0.0,
    "low": 0.5,
    "medium": 2.0,
    "high": 3.5,
    "critical": 6.5,
}
DECAY = 0.5
BREADTH_STEP = 0.5
BREADTH_CAP = 2.0
FAMILY_ONE = 0.5
FAMILY_AGREED = 1.0
BENIGN_BELOW = 3.0
MALICIOUS_FROM = 6.0
_SIGNIFICANT: frozenset[Severity] = frozenset({"medium", "high", "critical"})

FORMULA = (
    "score = min(10, sum over severities of w * (1 - 0.5^n) / (1 - 0.5) "
    "+ min(2, 0.5 * (categories of medium+ matches - 1)) "
    "+ family bonus (1.0 if a family is named by 2+ medium+ matches, 0.5 if by one)); "
    "w: info 0, low 0.5, medium 2, high 3.5, critical 6.5; n: matches of that severity. "
    "Verdict: benign < 3 <= suspicious < 6 <= malicious."
)


def verdict_for(value: float) -> Verdict:
    if value >= MALICIOUS_FROM:
        return "malicious"
    if value >= BENIGN_BELOW:
        return "suspicious"
    return "benign"


def score(matches: list[SignatureMatch]) -> tuple[float, Verdict, ScoreDetails]:
    """The score, the verdict and how they were reached, for these signature matches."""
    components: dict[str, float] = {}
    total = 0.0
    for severity, weight in WEIGHTS.items():
        n = sum(1 for m in matches if m.severity == severity)
        part = weight * (1 - DECAY**n) / (1 - DECAY)
        components[f"count.{severity}"] = float(n)
        components[f"severity.{severity}"] = round(part, 4)
        total += part
    significant = [m for m in matches if m.severity in _SIGNIFICANT]
    categories = {m.category for m in significant}
    breadth = min(BREADTH_CAP, BREADTH_STEP * max(0, len(categories) - 1))
    family_votes: dict[str, int] = {}
    for match in significant:
        for name in set(match.families):
            family_votes[name] = family_votes.get(name, 0) + 1
    best = max(family_votes.values(), default=0)
    family = FAMILY_AGREED if best >= 2 else FAMILY_ONE if best == 1 else 0.0
    components["categories"] = float(len(categories))
    components["breadth"] = breadth
    components["family"] = family
    raw = total + breadth + family
    components["raw"] = round(raw, 4)
    value = round(min(10.0, raw), 1)
    components["score"] = value
    return value, verdict_for(value), ScoreDetails(formula=FORMULA, components=components)


def not_executed(
    reason: str | None, matches: list[SignatureMatch]
) -> tuple[None, Verdict, ScoreDetails]:
    """No score and the verdict ``not executed``; the details say why and count the matches."""
    why = reason or "no reason was recorded"
    components = {
        f"count.{severity}": float(sum(1 for m in matches if m.severity == severity))
        for severity in WEIGHTS
    }
    return (
        None,
        "not executed",
        ScoreDetails(
            formula=FORMULA,
            components=components,
            reason=(
                f"not scored: the sample was not executed ({why}); a run that did not execute "
                "the sample shows nothing of its behaviour, so it is neither scored nor benign"
            ),
        ),
    )
