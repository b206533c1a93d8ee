"""The worker fleet: what each worker can run, sent with its heartbeat, and how a task finds a
worker that can run it.

Every worker writes a ``Capabilities`` document into its row of the ``workers`` table at each
heartbeat (``heartbeat_seconds``; between tasks and during them). A sandbox worker reports

- its guest images (``name:arch``) and their architectures;
- the sandbox kinds this host can run (``contexts.sandboxes.usable_sandboxes``: ``qemu``
  always, ``lxc`` when libvirt's LXC driver and a usable ``bpftrace`` are present), checked
  once when the worker starts (programs and drivers do not come and go under a running
  worker), and why the others cannot run;
- the free VM slots of its host now (the live host budget, for a VM the size of the one it
  keeps warm), the host's VM limit (CPUs x ``AASEE_VMS_PER_CPU``, ``AASEE_MAX_VMS``) and the
  warm VMs it holds;
- its host's CPUs, load average and memory (total, available).

A postprocess worker reports the host figures only.

Routing: a task is queued on the queue of its (guest image, sandbox kind) pair
(``queue.analysis_queue_name``), and a sandbox worker reads only the queues of the pairs it
reported, so a task never reaches a worker without its guest or its kind of sandbox. A
submission asking for a kind no live worker reports (while some are alive) fails at once with
the kinds on offer (``lifecycle.available_sandboxes``). Free slots and load are reported for
operators (``GET /api/v1/workers``, the Workers page): admission itself is decided by each
worker against its own host budget just before it dequeues, never from a figure that may be
seconds old.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from aasee import __version__
from aasee.service.queue import DEFAULT_KIND

__all__ = [
    "DEFAULT_KIND",
    "Capabilities",
    "HostLoad",
    "arches_of",
    "host_load",
    "host_sandboxes",
    "sandboxes_of",
]

log = logging.getLogger(__name__)


class HostLoad(BaseModel):
    """The figures of the host a worker runs on, read at its last heartbeat."""

    model_config = ConfigDict(extra="ignore")

    cpus: int = 1
    load: list[float] = Field(default_factory=list)
    """The load average over 1, 5 and 15 minutes."""
    memory_total_mib: int | None = None
    memory_available_mib: int | None = None


class Capabilities(BaseModel):
    """What a worker can run and how busy its host is (see the module's text)."""

    model_config = ConfigDict(extra="ignore")

    version: str = __version__
    images: list[str] = Field(default_factory=list)
    """``name:arch`` of the guest images it has (sandbox workers)."""
    arches: list[str] = Field(default_factory=list)
    sandboxes: list[str] = Field(default_factory=list)
    """The sandbox kinds it takes tasks for."""
    unavailable: dict[str, str] = Field(default_factory=dict)
    """The kinds this host cannot run, and why."""
    free_slots: int | None = None
    """VMs more the host has room for now (memory and CPUs, every process counted)."""
    vm_limit: int | None = None
    warm_vms: int = 0
    host: HostLoad = Field(default_factory=HostLoad)


def host_load() -> HostLoad:
    """CPUs, load average and memory of this host now (cheap: /proc reads)."""
    from aasee.contexts.host_budget import meminfo_mib

    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = []
    total: int | None
    available: int | None
    try:
        total, available = meminfo_mib()
    except (OSError, KeyError, ValueError):
        total = available = None
    return HostLoad(
        cpus=os.cpu_count() or 1,
        load=load,
        memory_total_mib=total,
        memory_available_mib=available,
    )


@lru_cache(maxsize=1)
def host_sandboxes() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(kinds this host can run, (kind, why not) for the others); checked once per process."""
    from aasee.contexts.sandboxes import usable_sandboxes

    usable: list[str] = []
    refused: list[tuple[str, str]] = []
    for name, reason in usable_sandboxes().items():
        if reason is None:
            usable.append(name)
        else:
            refused.append((name, reason))
    if DEFAULT_KIND not in usable:
        # The QEMU kind needs nothing the worker could not start without: always offered.
        usable.append(DEFAULT_KIND)
    log.info(
        "sandbox kinds here: %s%s",
        ", ".join(sorted(usable)),
        "".join(f"; not {name}: {why}" for name, why in refused),
    )
    return tuple(sorted(usable)), tuple(refused)


def arches_of(images: list[str]) -> list[str]:
    """The architectures of ``name:arch`` entries, each once."""
    return sorted({entry.partition(":")[2] for entry in images if entry.partition(":")[2]})


def sandboxes_of(capabilities: dict[str, object] | None) -> list[str]:
    """The kinds a worker row offers; a worker of an older version (no capabilities) runs
    only the default kind."""
    if not capabilities:
        return [DEFAULT_KIND]
    kinds = capabilities.get("sandboxes")
    if not isinstance(kinds, list):
        return [DEFAULT_KIND]
    return [str(kind) for kind in kinds]
