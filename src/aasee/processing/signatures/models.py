"""The report's model of behaviour signatures, ATT&CK techniques, score and verdict.

Owned by the signatures package; ``schema/defs/signatures.json`` documents the same shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modelbase import StrictModel

__all__ = [
    "AttackSummary",
    "AttackTactic",
    "AttackTechnique",
    "Evidence",
    "ScoreDetails",
    "Severity",
    "SignatureMatch",
    "VERDICTS",
    "Verdict",
]

Severity = Literal["info", "low", "medium", "high", "critical"]
Verdict = Literal["benign", "suspicious", "malicious", "not executed"]
VERDICTS: tuple[Verdict, ...] = ("benign", "suspicious", "malicious", "not executed")
"""Every verdict a report can carry: ``not executed`` when the guest could not run the sample
(the run shows nothing of its behaviour, so it is neither scored nor ever ``benign``)."""


class Evidence(StrictModel):
    """One fact that made a signature match, pointing into the report."""

    ref: str
    """JSON Pointer (RFC 6901) into this report, e.g. ``/files/written/3``."""
    summary: str
    process: str | None = None
    pid: int | None = None


class SignatureMatch(StrictModel):
    """A behaviour signature that matched, with the facts in the report that made it match."""

    id: str
    name: str
    description: str
    severity: Severity
    category: str
    techniques: list[str] = Field(default_factory=list)
    families: list[str] = Field(default_factory=list)
    count: int = Field(default=1, ge=1)
    """How many pieces of evidence were found (``evidence`` keeps the first ones)."""
    evidence: list[Evidence] = Field(default_factory=list)
    evidence_truncated: bool = False


class AttackTechnique(StrictModel):
    """An ATT&CK technique named by matched signatures, by its current (v19) id."""

    id: str
    name: str
    tactics: list[str] = Field(default_factory=list)
    release_id: str | None = None
    """The id this technique has in the shipped ATT&CK release when it differs from ``id``."""
    signatures: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class AttackTactic(StrictModel):
    """An ATT&CK tactic (v19 name) and the reported techniques filed under it."""

    id: str = ""
    name: str
    techniques: list[str] = Field(default_factory=list)


class AttackSummary(StrictModel):
    """The techniques the matched signatures name, grouped by tactic."""

    release: str | None = None
    """ATT&CK release the names and tactics come from (shipped offline)."""
    ids_as_of: str | None = None
    """ATT&CK release the technique ids are current for (after the documented id map)."""
    techniques: list[AttackTechnique] = Field(default_factory=list)
    tactics: list[AttackTactic] = Field(default_factory=list)


class ScoreDetails(StrictModel):
    """How the score was computed: the formula in words and the value of each term.

    ``reason`` says why there is no score (null when there is one).
    """

    formula: str
    components: dict[str, float] = Field(default_factory=dict)
    reason: str | None = None
