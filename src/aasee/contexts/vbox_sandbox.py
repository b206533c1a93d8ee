"""The VirtualBox sandbox kind: one cold boot of a VirtualBox VM through libvirt's vbox driver.

UNTESTED ON REAL VIRTUALBOX (see ``contexts/vbox.py``). VirtualBox has neither our ready
snapshots nor direct kernel boot, so the only plan is a cold boot of the guest's bootable
disk (``NAME.vdi``, ``NAME.vmdk`` or ``NAME.vhd`` next to the image), on an ``isolated``
internal network or none.
"""

from __future__ import annotations

import shutil

from aasee.contexts.qemu_config import ContextError
from aasee.contexts.sandboxes import BootPlan, Sandbox, SandboxRequest, register_sandbox
from aasee.contexts.vbox import VBoxConfig, VirtualBoxContext
from aasee.core import Context


class VirtualBoxSandbox(Sandbox):
    name = "virtualbox"
    hypervisor = "virtualbox"
    isolation = (
        "a full VirtualBox virtual machine (untested on real VirtualBox), driven through "
        "libvirt's vbox driver, whose disk is immutable (reset at every start) and whose "
        "network, if any, is an internal network of its own"
    )

    def unavailable(self) -> str | None:
        if shutil.which("VBoxManage") is None:
            return "VirtualBox is not installed (no VBoxManage)"
        return None

    def plan(self, request: SandboxRequest) -> list[BootPlan]:
        if request.revert == "snapshot":
            raise ContextError("no usable snapshot: the VirtualBox sandbox has no ready snapshots")
        config = VBoxConfig.from_qemu_config(request.config)

        def cold(identifier: str) -> Context:
            return VirtualBoxContext(identifier, config)

        return [BootPlan(f"cold boot (VirtualBox, {config.disk.name})", cold)]


register_sandbox(VirtualBoxSandbox())
