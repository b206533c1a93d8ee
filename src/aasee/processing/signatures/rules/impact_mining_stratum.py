"""Cryptocurrency mining: the stratum pool protocol named, or a known mining pool looked up."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

STRATUM = re.compile(r"stratum\d?\+(tcp|ssl|tls)://", re.IGNORECASE)
POOLS = re.compile(
    r"(minexmr|supportxmr|nanopool|moneroocean|hashvault|c3pool|xmrpool|herominers|2miners"
    r"|f2pool|nicehash|minergate|ethermine|miningpoolhub|viabtc|antpool|unmineable|zpool"
    r"|dwarfpool|crypto-pool|monerohash|xmrig)\.",
    re.IGNORECASE,
)


class StratumMining(Signature):
    id = "impact_mining_stratum"
    name = "Talks to a cryptocurrency mining pool"
    description = (
        "A stratum+tcp:// (or +ssl) pool address in a command line, inline code, HTTP request "
        "or the strings of the sample, or a DNS lookup of a known mining pool: the machine's "
        "CPU is being rented out to someone else's wallet."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1496.001",)
    families = ("coinminer",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands():
            if any(STRATUM.search(arg) for arg in run.item.args):
                yield run.evidence(command_summary(run))
        for code in ctx.inline_code():
            if STRATUM.search(code.item.code):
                yield code.evidence(f"inline {code.item.language} code names a stratum pool")
        for request in ctx.http():
            if STRATUM.search(request.item.url):
                yield request.evidence(f"HTTP request for {request.item.url}")
        for name in ctx.dns_names:
            if POOLS.search(name.item + "."):
                yield name.evidence(f"looked up the mining pool {name.item}")
        for static in ctx.static_files():
            strings = static.item.static.strings
            for field in ("urls", "domains"):
                for i, value in enumerate(getattr(strings, field)):
                    if STRATUM.search(value) or (field == "domains" and POOLS.search(value + ".")):
                        found = Found(value, static.ref + pointer("strings", field, i))
                        yield found.evidence(f"{static.item.label} contains {value}")
