"""The LXC sandbox kind: a container on the host's kernel, for scripts and quick triage.

Never chosen silently: only ``--sandbox lxc`` (CLI), ``"sandbox": "lxc"`` (API) or the
service's ``default_sandbox`` setting select it. There is no snapshot to restore: a container
starts in about a second, so every plan is a fresh start of the image's file system.
"""

from __future__ import annotations

from pathlib import Path

from aasee.contexts.host_tracer import HostTracer
from aasee.contexts.lxc import NETWORKS, LxcContext
from aasee.contexts.qemu_config import ContextError
from aasee.contexts.sandboxes import BootPlan, Sandbox, SandboxRequest, register_sandbox
from aasee.core import Context

# The container helper libvirt's LXC driver starts for each container (Debian package
# libvirt-daemon-driver-lxc; /usr/libexec on other distributions).
LXC_HELPERS = (Path("/usr/lib/libvirt/libvirt_lxc"), Path("/usr/libexec/libvirt_lxc"))


class LxcSandbox(Sandbox):
    name = "lxc"
    hypervisor = "lxc"
    isolation = (
        "a Linux container (libvirt LXC) on the host's own kernel: namespaces, dropped "
        "capabilities and a throwaway overlay, weaker than a virtual machine (a kernel exploit "
        "reaches the host, and the sample can tell it runs in a container); traced from the "
        "host with eBPF"
    )

    def unavailable(self) -> str | None:
        if not any(helper.exists() for helper in LXC_HELPERS):
            return (
                "libvirt's LXC driver is not installed (Debian package libvirt-daemon-driver-lxc)"
            )
        reason = HostTracer.unavailable_reason()
        if reason is not None:
            return f"the host-side eBPF tracer cannot run: {reason}"
        return None

    def plan(self, request: SandboxRequest) -> list[BootPlan]:
        if request.revert == "snapshot":
            raise ContextError("no usable snapshot: the LXC sandbox starts containers fresh")
        config = request.config
        if config.network not in NETWORKS:
            raise ContextError(
                f"the LXC sandbox offers the networks {' and '.join(NETWORKS)}, "
                f"not {config.network!r}"
            )
        if not config.profile.runs_on_host():
            raise ContextError(
                f"the LXC sandbox runs samples on the host's kernel, which cannot run "
                f"{config.profile.name} programs: use --sandbox qemu"
            )

        def start(identifier: str) -> Context:
            return LxcContext(identifier, config, request.image_key)

        return [BootPlan("container start (LXC)", start)]


register_sandbox(LxcSandbox())
