"""The QEMU sandbox kind: a full VM per analysis, restored from a ready snapshot when one fits.

Plans, in order: a warm VM from this process's pool (``warm_pool.py``: restored before the
task came, so power-on is a resume) when one matches; restore the ready snapshot of this
image and VM shape into a fresh QEMU process (about half a second); then a cold boot as the
fallback (a QEMU process in the run's network namespace for the ``fake`` and ``internet``
networks, a transient libvirt domain for ``isolated`` and ``none`` — or a QEMU process there
too when the running libvirtd would re-probe a broken /dev/kvm at every start). A missing or
mismatched snapshot is never fatal unless the request insists on one.
"""

from __future__ import annotations

import logging

from aasee.contexts.libvirt_connection import libvirt_reprobes_kvm
from aasee.contexts.libvirt_qemu import LibvirtQemuContext
from aasee.contexts.qemu_config import ContextError
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.sandboxes import BootPlan, Sandbox, SandboxRequest, register_sandbox
from aasee.contexts.snapshots import find_snapshot
from aasee.contexts.warm_pool import active_pool
from aasee.core import Context

log = logging.getLogger(__name__)


class QemuSandbox(Sandbox):
    name = "qemu"
    isolation = (
        "a full virtual machine (QEMU, KVM or emulated), with its own kernel, a throwaway disk "
        "overlay and a network namespace of its own"
    )

    def plan(self, request: SandboxRequest) -> list[BootPlan]:
        config = request.config
        plans: list[BootPlan] = []
        reason = "requested"
        if request.revert != "cold" and not config.profile.emulation.ready_snapshots:
            if request.revert == "snapshot":
                raise ContextError(f"the {config.profile.name} guest boots cold, by its profile")
            reason = f"the {config.profile.name} guest boots cold, by its profile"
        elif request.revert != "cold":
            if request.snapshot_root is None:
                reason = "no snapshot store"
                snapshot = None
            else:
                snapshot, reason = find_snapshot(
                    request.snapshot_root, config.guest.name, request.image_key, config
                )
            if snapshot is not None:
                pool = active_pool()
                warm = pool.take(config, snapshot) if pool is not None else None
                if warm is not None:
                    plans.append(
                        BootPlan(
                            "warm VM (restored before the task)",
                            lambda _i: warm,
                            restoring=True,
                            prepared=True,
                        )
                    )

                def restore(identifier: str) -> Context:
                    return QemuProcessContext(
                        identifier,
                        config,
                        disk_base=snapshot.disk,
                        state_file=snapshot.state,
                        trace_seal=snapshot.trace_seal,
                    )

                plans.append(BootPlan("snapshot restore", restore, restoring=True))
            elif request.revert == "snapshot":
                raise ContextError(f"no usable snapshot: {reason}")
            else:
                log.warning("no usable ready snapshot (%s): cold boot", reason)
        cold_reason = "snapshot restore failed" if plans else reason

        def cold(identifier: str) -> Context:
            if config.network in ("fake", "internet"):
                # libvirt cannot start QEMU inside the run's network namespace.
                return QemuProcessContext(identifier, config)
            if libvirt_reprobes_kvm(config.accel.kvm_broken):
                # A libvirtd we did not start would re-probe the broken /dev/kvm (a minute)
                # at every VM start: the same VM as a QEMU process of our own instead.
                log.info("cold boot as a QEMU process: this libvirtd would re-probe KVM")
                return QemuProcessContext(identifier, config)
            return LibvirtQemuContext(identifier, config)

        plans.append(BootPlan(f"cold boot ({cold_reason})", cold))
        return plans


register_sandbox(QemuSandbox())
