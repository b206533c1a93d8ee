"""What a QEMU-based sandbox is configured with, and the run directory every run owns.

``QemuConfig`` is the VM shape an analysis asks for (guest, architecture, accelerator,
memory, network, time warp); ``machine_spec`` turns it and one run's paths into the device
model both QEMU contexts render. Each run gets a directory named by its id, holding a qcow2
overlay on the never-written base disk, the agent socket and the console log;
``sweep_stale_runs`` removes the directories of runs whose process died.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aasee.arch import ArchProfile
from aasee.contexts.accel import AccelChoice
from aasee.contexts.host_budget import HostBudget, HostFull, pid_alive, vm_memory_mib
from aasee.contexts.libvirt_connection import DEFAULT_URI
from aasee.contexts.machine import HardwareIdentity, MachineSpec, NicSpec, mac_for
from aasee.contexts.network import (
    GUEST,
    NETNS_PREFIX,
    list_sandbox_namespaces,
    remove_namespace,
)
from aasee.contexts.uplink import InternetUplink, list_host_tables, remove_host_side

__all__ = [
    "DOMAIN_PREFIX",
    "NETWORK_MODES",
    "ContextError",
    "GuestSpec",
    "QemuConfig",
    "domain_name",
    "guest_addresses",
    "machine_spec",
    "prepare_run_dir",
    "qemu_user",
    "sweep_stale_runs",
]

log = logging.getLogger(__name__)

DOMAIN_PREFIX = "aasee-"
NETWORK_MODES = ("fake", "isolated", "none", "internet")


class ContextError(Exception):
    """The sandbox could not be created or controlled."""


@dataclass(frozen=True)
class GuestSpec:
    """What to boot: a base disk and a direct-boot kernel (the images layer fills this)."""

    name: str
    disk: Path
    kernel: Path
    initrd: Path
    cmdline: str
    profile: ArchProfile
    identity: HardwareIdentity = field(default_factory=HardwareIdentity)


@dataclass(frozen=True)
class QemuConfig:
    guest: GuestSpec
    accel: AccelChoice
    runs_dir: Path
    memory_mib: int = 1024
    vcpus: int = 1
    uri: str = DEFAULT_URI
    network: str = "isolated"
    """fake: the run's namespace with the fake internet; internet: the same with an uplink;
    isolated: a NIC with no route anywhere; none: no NIC."""
    time_warp: bool = True  # TCG only: skip guest idle time (defeats sleep-based evasion)
    uplink: InternetUplink | None = None  # "internet" only; from the server configuration
    extra_qemu_args: tuple[str, ...] = ()
    display: bool = False  # a VGA display showing the kernel console (x86), for screenshots

    @property
    def profile(self) -> ArchProfile:
        return self.guest.profile


def qemu_user() -> tuple[int, int]:
    """The uid/gid libvirt runs QEMU as (Debian: libvirt-qemu), root if there is none."""
    try:
        entry = pwd.getpwnam("libvirt-qemu")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 0, 0


def domain_name(identifier: str) -> str:
    return f"{DOMAIN_PREFIX}{identifier}"


def guest_addresses(config: QemuConfig, identifier: str) -> tuple[str | None, str | None]:
    """The guest's MAC and IPv4 address in a run (None, None without a NIC)."""
    if config.network == "none":
        return None, None
    # Every guest init configures the same static address, whatever the network mode.
    return mac_for(identifier, config.guest.identity.mac_prefix), GUEST


def machine_spec(
    config: QemuConfig,
    identifier: str,
    run_dir: Path,
    disk: Path,
    *,
    tap_fd: int | None = None,
    incoming: bool = False,
    qmp: bool = True,
) -> MachineSpec:
    """The device model of one run of ``config`` (paths in ``run_dir``)."""
    if config.network not in NETWORK_MODES:
        raise ContextError(
            f"unknown network mode {config.network!r} (one of {', '.join(NETWORK_MODES)})"
        )
    mac, _ = guest_addresses(config, identifier)
    nic: NicSpec | None = None
    if mac is not None and config.network in ("fake", "internet"):
        nic = NicSpec("tap-fd", mac, tap_fd)
    elif mac is not None and config.network == "isolated":
        nic = NicSpec("isolated", mac)
    return MachineSpec(
        name=domain_name(identifier),
        uuid=identifier,
        profile=config.profile,
        accel="kvm" if config.accel.accel == "kvm" else "tcg",
        memory_mib=config.memory_mib,
        vcpus=config.vcpus,
        kernel=config.guest.kernel,
        initrd=config.guest.initrd,
        cmdline=config.guest.cmdline,
        disk=disk,
        agent_socket=run_dir / "agent.sock",
        console_log=run_dir / "console.log",
        qmp_socket=run_dir / "qmp.sock" if qmp else None,
        nic=nic,
        time_warp=config.time_warp,
        incoming=incoming,
        identity=config.guest.identity,
        extra_args=config.extra_qemu_args,
        display=config.display,
    )


ADMIT_WAIT_SECONDS = 60.0
"""How long a VM waits for room in the host's budget before its start fails."""


def prepare_run_dir(
    runs_dir: Path, run_dir: Path, base: Path, overlay: Path, memory_mib: int
) -> None:
    """Create a run's directory (owned by QEMU's user) and its throwaway qcow2 overlay, once
    the host's budget admits a VM of ``memory_mib`` (``host_budget.py``)."""
    sweep_stale_runs(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(runs_dir, 0o711)
    try:
        HostBudget(runs_dir).admit(run_dir, vm_memory_mib(memory_mib), ADMIT_WAIT_SECONDS)
    except HostFull as exc:
        raise ContextError(str(exc)) from exc
    overlay.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise ContextError(f"cannot create the disk overlay: {result.stderr.strip()}")
    uid, gid = qemu_user()
    os.chown(run_dir, uid, gid)
    os.chown(overlay, uid, gid)


def sweep_stale_runs(runs_dir: Path) -> list[str]:
    """Remove run directories whose owning process is gone (e.g. a SIGKILLed worker)."""
    removed: list[str] = []
    if not runs_dir.is_dir():
        return removed
    for run in runs_dir.iterdir():
        owner = run / "owner.json"
        try:
            pid = int(json.loads(owner.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not pid_alive(pid):
            remove_namespace(f"{NETNS_PREFIX}{run.name}")
            if os.path.ismount(run / "root"):
                # A container's overlay root: unmounted, never emptied through the mount.
                subprocess.run(["umount", "--lazy", str(run / "root")], check=False)
            shutil.rmtree(run, ignore_errors=True)
            removed.append(run.name)
            log.info("removed stale run directory %s (owner %d is gone)", run, pid)
    # Internet uplinks whose run directory and namespace are both gone.
    namespaces = set(list_sandbox_namespaces())
    for identifier in list_host_tables():
        if f"{NETNS_PREFIX}{identifier}" not in namespaces and not (runs_dir / identifier).exists():
            remove_host_side(identifier)
            log.info("removed the stale internet uplink of run %s", identifier)
    return removed
