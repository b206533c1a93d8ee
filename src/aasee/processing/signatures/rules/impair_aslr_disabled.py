"""Address space layout randomisation switched off."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

SETTING = "kernel.randomize_va_space"


class AslrDisabled(Signature):
    id = "impair_aslr_disabled"
    name = "Turns off address space randomisation"
    description = (
        "Writes /proc/sys/kernel/randomize_va_space, runs sysctl to set "
        "kernel.randomize_va_space to 0 or 1, or runs a program with setarch -R: memory "
        "addresses become predictable, which exploits rely on. Setting it back to 2 (full "
        "randomisation) is not counted."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1685",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.kernel_settings():
            setting = found.item
            if setting.name == SETTING and setting.value != "2":
                yield found.evidence(setting.summary)
        for run in ctx.commands("setarch"):
            args = run.item.args
            short = any(a.startswith("-") and not a.startswith("--") and "R" in a for a in args)
            if short or "--addr-no-randomize" in args:
                yield run.evidence(command_summary(run))
