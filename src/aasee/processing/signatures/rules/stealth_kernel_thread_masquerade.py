"""Kernel-thread masquerading: a process with a program file named like a kernel thread."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import basename
from ..models import Evidence
from ..query import ReportIndex

# Kernel thread names: "[anything]" as ps shows them, the per-CPU or per-device ones
# ("kworker/0:1", "ksoftirqd/3", "jbd2/sda1-8", "kswapd0"), and the singletons.
KERNEL_THREAD = re.compile(
    r"^\[.+\]$"
    r"|^(kworker|ksoftirqd|migration|watchdog|cpuhp|irq|jbd2|scsi_eh|scsi_tmf|idle_inject"
    r"|kcompactd|kswapd|kstrp|xfsaild|ext4-rsv-conver|card)(/.*|\d+.*)$"
    r"|^(kthreadd|kdevtmpfs|kauditd|khungtaskd|khugepaged|ksmd|kblockd|oom_reaper|rcu_sched"
    r"|rcu_bh|rcu_preempt|rcu_gp|rcu_par_gp|writeback|kintegrityd|kthrotld|watchdogd"
    r"|netns|kaluad|edac-poller|devfreq_wq|ecryptfs-kthread|zswap-shrink)$"
)


class KernelThreadMasquerade(Signature):
    id = "stealth_kernel_thread_masquerade"
    name = "Disguises itself as a kernel thread"
    description = (
        "A process of the sample's tree (so a user-space program, with an image) whose name "
        "or argv[0] looks like a kernel thread ([kworker/0:1], kthreadd, ksoftirqd...): real "
        "kernel threads never descend from the sample, so this is a disguise for ps/top."
    )
    severity = "high"
    category = "stealth"
    techniques = ("T1036.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.processes():
            process = found.item
            if process.image is None:
                continue
            names = {
                process.comm,
                *(process.argv[:1]),
                basename(process.argv[0] if process.argv else None),
            }
            disguise = sorted(n for n in names if n and KERNEL_THREAD.match(n))
            if disguise:
                yield found.evidence(
                    f"{process.image} (pid {process.pid}) runs as {', '.join(disguise)}"
                )
