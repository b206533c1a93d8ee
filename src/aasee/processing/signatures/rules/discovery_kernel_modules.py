"""Device driver discovery: the loaded kernel modules listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex


class KernelModuleDiscovery(Signature):
    id = "discovery_kernel_modules"
    name = "Lists kernel modules"
    description = (
        "Runs lsmod, kmod list or modinfo, or reads /proc/modules with a text tool: the "
        "drivers loaded (virtualisation guest drivers give a sandbox away; security modules "
        "show what watches). modprobe reading /proc/modules to do its job is not counted."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1652", "T1082")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("lsmod", "modinfo"):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("kmod"):
            if run.item.args[:1] in (("list",), ("static-nodes",)):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/proc/modules",)):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
