"""Where the start-up chain lives in every guest, under names a device or server would use.

Stage 1 (the initramfs ``/init``) mounts the root disk and hands over to ``STAGE2_PATH``,
the system start-up script (``assets/guest-init.sh``), which ends by exec'ing the agent as
PID 1 (``AGENT_PATH --init``). A sample looking around the guest sees an ``init`` as PID 1,
an ``rcS`` among the start-up scripts, and nothing named after the sandbox or an agent.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["AGENT_PATH", "ROOT_DEVICE", "STAGE2_PATH", "stage1_init", "stage2_init"]

AGENT_PATH = "/sbin/init"
"""The agent binary in the guest: PID 1 is called ``init`` on every Linux system."""
STAGE2_PATH = "/etc/init.d/rcS"
"""The start-up script stage 1 switches to (busybox's own init runs this file too)."""
ROOT_DEVICE = "/dev/vda"
"""The virtio-blk root disk, named on the kernel command line as ``root=``."""


def _asset(name: str) -> str:
    return resources.files("aasee.images").joinpath("assets", name).read_text()


def stage1_init() -> bytes:
    """The initramfs ``/init``."""
    return _asset("initramfs-init.sh").replace("@STAGE2@", STAGE2_PATH).encode()


def stage2_init() -> bytes:
    """The root's start-up script, ending in the agent as PID 1."""
    return _asset("guest-init.sh").replace("@AGENT@", AGENT_PATH).encode()
