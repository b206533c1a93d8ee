"""Known miner programs run (xmrig and kin), or miner-only command-line options used."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

MINERS = frozenset(
    {"xmrig", "xmrig-notls", "xmr-stak", "xmr-stak-rx", "xmr-stak-cpu", "minerd", "cpuminer",
     "cpuminer-multi", "ccminer", "ethminer", "nbminer", "t-rex", "lolminer", "phoenixminer",
     "gminer", "teamredminer", "srbminer", "srbminer-multi", "kdevtmpfsi", "kinsing",
     "nanominer", "xmr-node-proxy"}
)  # fmt: skip
MINER_OPTIONS = ("--donate-level", "--cpu-max-threads-hint", "--randomx-1gb-pages",
                 "--coin=monero", "--algo=rx/0", "--algo=cryptonight", "--nicehash",
                 "--cpu-priority", "--max-cpu-usage")  # fmt: skip


class MinerProgram(Signature):
    id = "impact_miner_program"
    name = "Runs a cryptocurrency miner"
    description = (
        "Runs a program named like a known miner (xmrig, xmr-stak, minerd, cpuminer, "
        "kdevtmpfsi...) or with options only miners take (--donate-level, "
        "--randomx-1gb-pages, --algo=rx/0...)."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1496.001",)
    families = ("coinminer",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands():
            name = run.item.name.lower()
            options = any(arg.startswith(MINER_OPTIONS) for arg in run.item.args)
            if name in MINERS or options:
                yield run.evidence(command_summary(run))
