"""DNS used as a channel: many long, encoded-looking names under one domain, or bursts of
TXT queries."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import domain_label, entropy
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

NAMES = 15
TXT_QUERIES = 10
LONG_LABEL = 20
ENCODED = re.compile(r"^[a-z0-9+/=_-]+$")


def _carrier(name: str) -> bool:
    """The name's leftmost labels look like data: long, and varied like encoded text."""
    labels = name.split(".")[:-2]
    data = "".join(labels)
    longest = max((len(label) for label in labels), default=0)
    return longest >= LONG_LABEL and bool(ENCODED.match(data)) and entropy(data) >= 3.5


class DnsTunneling(Signature):
    id = "c2_dns_tunneling"
    name = "Tunnels data through DNS"
    description = (
        f"{NAMES} or more different names under one domain whose first labels are long and "
        f"random-looking (encoded data), or {TXT_QUERIES} or more TXT queries: commands and "
        "data carried in DNS questions and answers (iodine, dnscat2, DNS exfiltration), "
        "through any network that lets DNS out."
    )
    severity = "high"
    category = "command-and-control"
    techniques = ("T1071.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        by_domain: dict[str, dict[str, Found[str]]] = {}
        for found in ctx.dns_names:
            name = found.item
            parts = name.split(".")
            if len(parts) < 3 or not _carrier(name):
                continue
            domain = ".".join(parts[-2:]) if domain_label(name) == parts[-2] else name
            by_domain.setdefault(domain, {}).setdefault(name, found)
        for domain, names in by_domain.items():
            if len(names) >= NAMES:
                for name, found in list(names.items())[:10]:
                    yield found.evidence(f"looked up {name} (one of {len(names)} under {domain})")
        txt = [
            Found(r, pointer("network", "dns_traffic", i), r.process, r.pid)
            for i, r in enumerate(ctx.report.network.dns_traffic)
            if r.type == "TXT"
        ]
        if len(txt) >= TXT_QUERIES:
            for query in txt[:10]:
                yield query.evidence(f"TXT query for {query.item.name} (one of {len(txt)})")
