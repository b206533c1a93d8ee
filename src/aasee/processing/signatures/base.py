"""What a behaviour signature is: the class every rule in ``rules/`` derives from.

A rule is a class with the attributes below and a :meth:`Signature.match` that yields the
:class:`~.models.Evidence` it finds (nothing when the behaviour is absent). Rules stay short
and declarative by asking the report through :class:`~.query.ReportIndex`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from .models import Evidence, Severity

if TYPE_CHECKING:
    from .query import ReportIndex

__all__ = ["CATEGORIES", "SEVERITIES", "Signature"]

SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
"""From least to most severe."""

CATEGORIES = frozenset(
    {
        "initial-access",
        "execution",
        "persistence",
        "privilege-escalation",
        "stealth",
        "defense-impairment",
        "credential-access",
        "discovery",
        "lateral-movement",
        "collection",
        "command-and-control",
        "exfiltration",
        "impact",
        "anti-analysis",
        "static",
    }
)
"""What a signature is about: ATT&CK-like tactics (v19 names), plus anti-analysis and static."""


class Signature:
    """One behaviour signature. Subclasses set every attribute and implement :meth:`match`."""

    id: ClassVar[str]
    """Stable identifier, ``lower_snake_case``."""
    name: ClassVar[str]
    """One line, what was seen: "Installs a cron job"."""
    description: ClassVar[str]
    """Why it matters and what exactly is matched."""
    severity: ClassVar[Severity]
    category: ClassVar[str]
    """One of :data:`CATEGORIES`."""
    techniques: ClassVar[tuple[str, ...]] = ()
    """ATT&CK technique ids, as ATT&CK v19 numbers them."""
    families: ClassVar[tuple[str, ...]] = ()
    """Malware families or classes this behaviour is typical of (e.g. ``coinminer``)."""

    def match(self, ctx: ReportIndex) -> Iterable[Evidence]:
        raise NotImplementedError

    def families_of(self, evidence: list[Evidence], ctx: ReportIndex) -> tuple[str, ...]:
        """Families to report for a match; rules that learn a family from the data override."""
        return self.families
