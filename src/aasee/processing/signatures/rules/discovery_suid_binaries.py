"""Setuid binaries searched for: ``find -perm -4000`` and friends (privilege-escalation recon)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SETID_PERM = re.compile(r"^[-/]?(0?[246]000|[ug]=s|[ug]\+s)$")


class SuidBinaryDiscovery(Signature):
    id = "discovery_suid_binaries"
    name = "Searches for setuid/setgid programs"
    description = (
        "Runs find with -perm -4000 (or -2000, -u=s...), or getcap -r over directories: a "
        "list of programs that run as root or with root's powers, the first step of local "
        "privilege escalation."
    )
    severity = "medium"
    category = "discovery"
    techniques = ("T1083",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("getcap"):
            if {"-r", "-R"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("find"):
            args = run.item.args
            for i, arg in enumerate(args[:-1]):
                if arg == "-perm" and SETID_PERM.match(args[i + 1]):
                    yield run.evidence(command_summary(run))
                    break
