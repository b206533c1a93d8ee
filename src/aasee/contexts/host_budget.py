"""The host's VM budget: how many VMs may run here now, from live memory and CPU figures.

Every VM (or container) of every AASEE process on this host has a run directory whose
``owner.json`` names its owning process and the memory it was admitted with. A new VM is
admitted, under a lock shared by all those processes, when

- the memory admitted to live VMs plus its own stays within the host's memory minus a
  reserve (every VM may grow to its full size: a guest's page cache fills it in time);
- the memory the kernel reports available now, minus the reserve, still holds the new VM
  (whatever else runs on the host counts too);
- the live VMs stay within ``vms_per_cpu`` per host CPU (under TCG each busy guest takes a
  core; idle ones cost little), and within ``max_vms`` if the operator set one.

Warm VMs (``warm_pool.py``) have run directories too, so they count. Nothing here trusts a
fixed figure taken at start-up: the budget is read again at every admission.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BudgetPolicy", "HostBudget", "HostFull", "policy_from_env"]

LOCK_NAME = ".vm-budget.lock"
OVERHEAD_MIB = 192
"""What a QEMU process holds beyond its guest's memory (device models, TCG's code cache)."""
CONTAINER_MIB = 64
"""What an LXC run is admitted with: its processes share the host's page cache."""


class HostFull(Exception):
    """No room for another VM here now; the message says which limit holds."""


@dataclass(frozen=True)
class BudgetPolicy:
    reserve_mib: int = 2048
    """Memory always left to the host (its services, postprocessing, the page cache)."""
    vms_per_cpu: float = 2.0
    max_vms: int | None = None
    """A hard cap set by the operator (``AASEE_MAX_VMS``); None: the budget alone decides."""


def policy_from_env() -> BudgetPolicy:
    """The default policy, with ``AASEE_MAX_VMS`` and ``AASEE_VMS_PER_CPU`` when set."""
    cap = int(os.environ.get("AASEE_MAX_VMS", "0") or 0)
    per_cpu = float(os.environ.get("AASEE_VMS_PER_CPU", "0") or 0)
    return BudgetPolicy(
        max_vms=cap or None,
        vms_per_cpu=per_cpu or BudgetPolicy.vms_per_cpu,
    )


def meminfo_mib() -> tuple[int, int]:
    """(MemTotal, MemAvailable) in MiB."""
    fields: dict[str, int] = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, _, rest = line.partition(":")
            if name in ("MemTotal", "MemAvailable"):
                fields[name] = int(rest.split()[0]) >> 10
    return fields["MemTotal"], fields["MemAvailable"]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Usage:
    vms: int
    admitted_mib: int
    total_mib: int
    available_mib: int
    cpus: int


class HostBudget:
    """Admission of VMs into ``runs_dir`` (the directory every run directory lives in)."""

    def __init__(self, runs_dir: Path, policy: BudgetPolicy | None = None) -> None:
        self.runs_dir = runs_dir
        self.policy = policy or policy_from_env()

    def usage(self) -> Usage:
        vms = 0
        admitted = 0
        if self.runs_dir.is_dir():
            for run in self.runs_dir.iterdir():
                try:
                    owner = json.loads((run / "owner.json").read_text())
                    pid = int(owner["pid"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                if not pid_alive(pid):
                    continue
                vms += 1
                admitted += int(owner.get("memory_mib") or 0)
        total, available = meminfo_mib()
        return Usage(vms, admitted, total, available, os.cpu_count() or 1)

    def max_vms(self, cpus: int) -> int:
        limit = max(1, int(cpus * self.policy.vms_per_cpu))
        if self.policy.max_vms is not None:
            limit = min(limit, self.policy.max_vms)
        return limit

    def refusal(self, memory_mib: int, usage: Usage | None = None) -> str | None:
        """Why a VM of ``memory_mib`` cannot start now, or None if it can."""
        usage = usage or self.usage()
        reserve = self.policy.reserve_mib
        limit = self.max_vms(usage.cpus)
        if usage.vms >= limit:
            return (
                f"{usage.vms} VMs already run here, the limit of this host "
                f"({usage.cpus} CPUs x {self.policy.vms_per_cpu:g}"
                + (f", AASEE_MAX_VMS={self.policy.max_vms}" if self.policy.max_vms else "")
                + ")"
            )
        if usage.admitted_mib + memory_mib > usage.total_mib - reserve:
            return (
                f"{usage.admitted_mib} MiB are admitted to running VMs; {memory_mib} MiB more "
                f"would pass the host's {usage.total_mib} MiB less {reserve} MiB kept free"
            )
        if usage.available_mib - reserve < memory_mib:
            return (
                f"only {usage.available_mib} MiB of memory are available now and {reserve} MiB "
                f"stay free: not enough for a VM of {memory_mib} MiB"
            )
        return None

    def free_slots(self, memory_mib: int) -> int:
        """How many more VMs of ``memory_mib`` fit now (for workers' capability reports)."""
        usage = self.usage()
        by_count = self.max_vms(usage.cpus) - usage.vms
        by_admitted = (usage.total_mib - self.policy.reserve_mib - usage.admitted_mib) // max(
            1, memory_mib
        )
        by_available = (usage.available_mib - self.policy.reserve_mib) // max(1, memory_mib)
        return max(0, min(by_count, by_admitted, by_available))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        # Beside the run directories, not among them: everything in runs_dir is a run.
        with open(self.runs_dir.parent / LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def admit(self, run_dir: Path, memory_mib: int, wait: float = 0.0, mode: int = 0o770) -> None:
        """Create ``run_dir`` with its ``owner.json`` once the host has room for the VM,
        waiting up to ``wait`` seconds for room; HostFull when there is none by then."""
        deadline = time.monotonic() + wait
        while True:
            with self._locked():
                why = self.refusal(memory_mib)
                if why is None:
                    run_dir.mkdir(mode=mode)
                    (run_dir / "owner.json").write_text(
                        json.dumps({"pid": os.getpid(), "memory_mib": memory_mib})
                    )
                    return
            if time.monotonic() >= deadline:
                raise HostFull(f"no room for another VM on this host: {why}")
            time.sleep(0.5)

    def wait_for_room(self, memory_mib: int, wait: float) -> None:
        """Block until a VM of ``memory_mib`` would be admitted (HostFull after ``wait`` s)."""
        deadline = time.monotonic() + wait
        while True:
            why = self.refusal(memory_mib)
            if why is None:
                return
            if time.monotonic() >= deadline:
                raise HostFull(f"no room for another VM on this host: {why}")
            time.sleep(0.5)


def vm_memory_mib(guest_mib: int) -> int:
    """What a VM of ``guest_mib`` is admitted with: its guest plus QEMU's own share."""
    return guest_mib + OVERHEAD_MIB
