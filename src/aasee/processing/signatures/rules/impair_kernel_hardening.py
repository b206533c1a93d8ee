"""Kernel hardening switched off: ptrace scope, pointer and log restrictions, unprivileged
BPF and namespaces, link protections, core dumps of setuid programs."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import ReportIndex

# Setting -> values that keep it hardened (any other value weakens it).
HARDENED: dict[str, frozenset[str]] = {
    "kernel.yama.ptrace_scope": frozenset({"1", "2", "3"}),
    "kernel.kptr_restrict": frozenset({"1", "2"}),
    "kernel.dmesg_restrict": frozenset({"1"}),
    "kernel.perf_event_paranoid": frozenset({"2", "3", "4"}),
    "kernel.unprivileged_bpf_disabled": frozenset({"1", "2"}),
    "kernel.unprivileged_userns_clone": frozenset({"0"}),
    "kernel.kexec_load_disabled": frozenset({"1"}),
    "kernel.modules_disabled": frozenset({"1"}),
    "kernel.sysrq": frozenset({"0", "176", "16"}),
    "fs.protected_symlinks": frozenset({"1"}),
    "fs.protected_hardlinks": frozenset({"1"}),
    "fs.protected_fifos": frozenset({"1", "2"}),
    "fs.protected_regular": frozenset({"1", "2"}),
    "fs.suid_dumpable": frozenset({"0"}),
    "vm.mmap_min_addr": frozenset({"4096", "65536", "32768"}),
    "net.core.bpf_jit_harden": frozenset({"1", "2"}),
}


class KernelHardeningDisabled(Signature):
    id = "impair_kernel_hardening"
    name = "Weakens kernel security settings"
    description = (
        "Writes /proc/sys (or runs sysctl) to relax a kernel protection: ptrace scope, "
        "kernel pointer and dmesg restrictions, perf and unprivileged BPF limits, "
        "unprivileged user namespaces, symlink/hardlink protections, setuid core dumps, "
        "mmap_min_addr: the ground prepared for an exploit or for injecting into other "
        "processes. Setting a hardened value is not counted."
    )
    severity = "medium"
    category = "defense-impairment"
    techniques = ("T1685",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.kernel_settings():
            setting = found.item
            kept = HARDENED.get(setting.name)
            if kept is None or setting.value in kept:
                continue
            yield found.evidence(setting.summary)
