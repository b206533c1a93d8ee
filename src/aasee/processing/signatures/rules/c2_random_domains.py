"""Machine-generated domain names looked up (domain generation algorithms)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import domain_label, looks_random
from ..models import Evidence
from ..query import ReportIndex

MINIMUM = 2


class RandomDomains(Signature):
    id = "c2_random_domains"
    name = "Looks up random-looking domain names"
    description = (
        f"{MINIMUM} or more different domains whose registered name reads as machine-made "
        "(long, high character entropy, few vowels or long consonant runs, digits mixed "
        "in): a domain generation algorithm searching for its controller."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1568.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        hits = [f for f in ctx.dns_names if looks_random(domain_label(f.item))]
        if len({f.item for f in hits}) >= MINIMUM:
            for found in hits:
                yield found.evidence(f"looked up {found.item}")
