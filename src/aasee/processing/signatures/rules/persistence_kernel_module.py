"""Kernel-module loading: init_module/finit_module, insmod/modprobe, module autoload config."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

NOT_LOADING = frozenset(
    {"-r", "--remove", "-l", "--list", "-n", "--dry-run", "-c", "--showconfig", "-V",
     "--version", "-h", "--help", "-D", "--show-depends", "--show-modversions"}
)  # fmt: skip
AUTOLOAD_PATHS = ("/etc/modules", "/etc/modules-load.d/*", "/etc/modprobe.d/*", "/lib/modules/**")


class KernelModuleLoad(Signature):
    id = "persistence_kernel_module"
    name = "Loads a kernel module"
    description = (
        "Calls init_module/finit_module, runs insmod or modprobe to load a module, or writes "
        "a module or the module autoload configuration: code running in the kernel, the "
        "usual way rootkits hide. Module files written by package installations (apt, "
        "dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1547.006",)
    families = ("rootkit",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for use in ctx.syscalls(("init_module", "finit_module")):
            yield use.evidence(f"called {use.item.name} {use.item.count} times")
        for run in ctx.commands("insmod", "modprobe"):
            if run.item.args and not NOT_LOADING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("kmod"):
            if run.item.args[:1] in (("insmod",), ("modprobe",)):
                yield run.evidence(command_summary(run))
        for found in ctx.modified(AUTOLOAD_PATHS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
