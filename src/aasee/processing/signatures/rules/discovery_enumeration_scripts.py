"""Privilege-escalation enumeration tools run (LinPEAS, LinEnum, linux-exploit-suggester,
pspy...)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

TOOLS = re.compile(
    r"^(linpeas|linenum|lse|linux-smart-enumeration|linux-exploit-suggester|les|les2|"
    r"linuxprivchecker|unix-privesc-check|pspy(32|64)?s?|traitor|beroot|deepce|peass|"
    r"linux_privesc|suid3num|gtfonow)([._-].*)?$",
    re.IGNORECASE,
)


class EnumerationScripts(Signature):
    id = "discovery_enumeration_scripts"
    name = "Runs a privilege-escalation enumeration tool"
    description = (
        "Runs (or hands to an interpreter) LinPEAS, LinEnum, linux-smart-enumeration, "
        "linux-exploit-suggester, pspy, traitor, deepce and the like: the whole system "
        "surveyed for a way to root in one go."
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1082", "T1083")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.runs():
            if TOOLS.match(posixpath.basename(run.item.path)):
                yield run.evidence(run.item.summary)
