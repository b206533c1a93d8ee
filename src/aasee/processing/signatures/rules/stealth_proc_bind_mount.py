"""Process hiding with bind mounts: an empty directory mounted over /proc/<pid>."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

PROC_ENTRY = re.compile(r"^/proc/\d+/?$")
MOUNT_VALUED = frozenset({"-t", "--types", "-o", "--options", "-L", "-U"})


class ProcBindMount(Signature):
    id = "stealth_proc_bind_mount"
    name = "Hides a process by mounting over its /proc entry"
    description = (
        "Runs mount --bind (or -o bind, --rbind) onto /proc/<pid>: ps, top and every tool "
        "reading /proc then see an empty directory instead of that process."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1564.013",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("mount"):
            args = run.item.args
            options = option_value(run.item, "-o", "--options") or ""
            binding = bool({"--bind", "-B", "--rbind", "-R"} & set(args)) or "bind" in options
            targets = operands(run.item, MOUNT_VALUED)
            if binding and any(PROC_ENTRY.match(t) for t in targets[1:]):
                yield run.evidence(command_summary(run))
