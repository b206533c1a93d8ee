"""Compute hijacking preparations and CPU burners: huge pages and MSR tuning for miners,
CPU limits to stay unnoticed, busy loops."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

HUGEPAGES = ("/sys/kernel/mm/hugepages/**", "/sys/devices/system/node/*/hugepages/**",
             "/proc/sys/vm/nr_hugepages")  # fmt: skip
BURNERS = ("stress", "stress-ng", "cpuburn", "burnP6", "burnMMX")
HASHERS = ("md5sum", "sha1sum", "sha256sum", "sha512sum", "cat", "gzip", "bzip2", "xz")


class ComputeHijacking(Signature):
    id = "impact_compute_hijacking"
    name = "Takes over the CPU"
    description = (
        "Reserves huge pages (vm.nr_hugepages) or writes CPU model-specific registers "
        "(wrmsr, /dev/cpu/*/msr), as miners do for speed; caps a process with cpulimit to "
        "stay under the radar; or burns CPU for nothing (stress, yes > /dev/null, hashing "
        "/dev/zero): the host's processors used for someone else's work."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1496.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for setting in ctx.kernel_settings():
            if setting.item.name in ("vm.nr_hugepages", "vm.nr_overcommit_hugepages"):
                if setting.item.value != "0":
                    yield setting.evidence(setting.item.summary)
        for found in ctx.files("written", HUGEPAGES):
            if not found.item.path.startswith("/proc/sys/"):
                yield found.evidence(file_summary(found))
        for found in ctx.files("written", ("/dev/cpu/*/msr",)):
            yield found.evidence(file_summary(found, "opened for writing"))
        for run in ctx.commands("wrmsr", "cpulimit", *BURNERS):
            if run.item.args and not {"-h", "--help", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands("yes"):
            if "/dev/null" in run.item.redirected(">", ">>", "&>"):
                yield run.evidence(command_summary(run) + " > /dev/null")
        for run in ctx.commands(*HASHERS):
            if any(a in ("/dev/zero", "/dev/urandom") for a in run.item.args):
                if run.item.name != "cat" or "/dev/null" in run.item.redirected(">"):
                    yield run.evidence(command_summary(run))
