"""The VirtualBox sandbox (SEE's ``VBoxContextFactory``), driven through libvirt's vbox driver.

UNTESTED ON REAL VIRTUALBOX: VirtualBox cannot run on the hosts AASEE is developed on. What
is tested is the domain XML (against libvirt's own schema) and the calls made on a libvirt
connection (against a recording double).

One persistent VirtualBox VM per run: defined from the run's :class:`MachineSpec` rendered
by :func:`~aasee.contexts.machine.vbox_xml` at the first power-on, then started, suspended,
resumed, rebooted and destroyed through libvirt, and undefined by :meth:`cleanup` whatever
happened before. The disk is a bootable VDI/VMDK/VHD image attached immutable, so VirtualBox
discards the guest's writes at every start (see ``vbox_xml``). Only the ``isolated`` (an
internal network of its own) and ``none`` networks exist: VirtualBox cannot join the run's
network namespace, so the fake internet needs the QEMU sandbox.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import libvirt

from aasee.contexts.libvirt_connection import destroy_domain, domain_active
from aasee.contexts.machine import VBOX_DISK_FORMATS, MachineSpec, NicSpec, mac_for, vbox_xml
from aasee.contexts.network import GUEST
from aasee.contexts.qemu_config import (
    DOMAIN_PREFIX,
    ContextError,
    GuestSpec,
    QemuConfig,
    domain_name,
)
from aasee.core import ContextBase

__all__ = [
    "VBOX_MAC_PREFIX",
    "VBOX_NETWORKS",
    "VBOX_URI",
    "VBoxConfig",
    "VirtualBoxContext",
    "bootable_disk",
    "sweep_stale_domains",
]

log = logging.getLogger(__name__)

VBOX_URI = "vbox:///session"
VBOX_URI_ENV = "AASEE_VBOX_URI"
VBOX_MAC_PREFIX = "08:00:27"  # VirtualBox's own OUI: what its NICs look like
VBOX_NETWORKS = ("isolated", "none")
SHUTDOWN_TIMEOUT = 30.0

Connect = Callable[[str], Any]
"""Opens a libvirt connection for a URI (``libvirt.open``; tests pass a double)."""


def bootable_disk(disk: Path) -> Path:
    """The bootable VirtualBox disk of a guest image: ``disk`` itself or a sibling.

    Our images boot QEMU's direct kernel from ``NAME.qcow2``; VirtualBox needs a disk with
    its own boot loader, looked for as ``NAME.vdi``, ``NAME.vmdk`` or ``NAME.vhd``.
    """
    if disk.suffix.lower() in VBOX_DISK_FORMATS:
        candidates = [disk]
    else:
        candidates = [disk.with_suffix(suffix) for suffix in VBOX_DISK_FORMATS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ContextError(
        "VirtualBox boots a bootable disk image (VDI, VMDK or VHD with its own boot loader), "
        f"and none was found: looked for {', '.join(str(c) for c in candidates)}"
    )


def sweep_stale_domains(conn: Any, runs_dir: Path) -> list[str]:
    """Power off and undefine the VirtualBox VMs of runs whose process died.

    VirtualBox VMs are persistent (libvirt cannot make them die with our connection, as it
    does the QEMU domains), so a SIGKILLed run leaves one defined: it is ours (named
    ``aasee-RUN``) and stale when its run directory is gone or its owner process is dead.
    """
    removed: list[str] = []
    try:
        domains = conn.listAllDomains()
    except libvirt.libvirtError as exc:
        log.warning("cannot list VirtualBox VMs to sweep stale ones: %s", exc)
        return removed
    for domain in domains:
        name = str(domain.name())
        if not name.startswith(DOMAIN_PREFIX) or not _stale(runs_dir / name[len(DOMAIN_PREFIX) :]):
            continue
        try:
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        except libvirt.libvirtError as exc:
            log.warning("cannot remove stale VirtualBox VM %s: %s", name, exc)
            continue
        shutil.rmtree(runs_dir / name[len(DOMAIN_PREFIX) :], ignore_errors=True)
        removed.append(name)
        log.info("removed stale VirtualBox VM %s (its run is gone)", name)
    return removed


def _stale(run_dir: Path) -> bool:
    try:
        pid = int(json.loads((run_dir / "owner.json").read_text())["pid"])
    except FileNotFoundError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False  # unreadable: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class VBoxConfig:
    """What a VirtualBox sandbox is made of: a bootable disk and the VM's shape."""

    guest: GuestSpec
    disk: Path
    """The bootable VDI/VMDK/VHD image (never written: attached immutable)."""
    runs_dir: Path
    memory_mib: int = 1024
    vcpus: int = 1
    uri: str = VBOX_URI
    network: str = "isolated"

    @classmethod
    def from_qemu_config(cls, config: QemuConfig, uri: str | None = None) -> VBoxConfig:
        """The VirtualBox equivalent of an analysis' VM shape; ContextError if there is none."""
        if config.network not in VBOX_NETWORKS:
            raise ContextError(
                f"the VirtualBox sandbox has no {config.network!r} network (only "
                f"{', '.join(VBOX_NETWORKS)}): the fake internet and internet uplinks live "
                "in the run's network namespace, which VirtualBox cannot join"
            )
        return cls(
            guest=config.guest,
            disk=bootable_disk(config.guest.disk),
            runs_dir=config.runs_dir,
            memory_mib=config.memory_mib,
            vcpus=config.vcpus,
            uri=uri or os.environ.get(VBOX_URI_ENV, VBOX_URI),
            network=config.network,
        )


class VirtualBoxContext(ContextBase):
    """A VirtualBox VM defined through libvirt for one run, undefined at cleanup."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"console_log", "run_dir"})
    """No ``qmp`` (VirtualBox has no QEMU monitor) and no ``agent_channel`` until the guest
    agent speaks over a serial port; no ``disk_overlay`` (VirtualBox keeps the differencing
    image itself)."""

    def __init__(
        self, identifier: str, config: VBoxConfig, *, connect: Connect | None = None
    ) -> None:
        super().__init__(identifier)
        if config.network not in VBOX_NETWORKS:
            raise ContextError(f"the VirtualBox sandbox has no {config.network!r} network")
        self.config = config
        self.run_dir = config.runs_dir / identifier
        self.agent_socket = self.run_dir / "agent.sock"
        self.console_log = self.run_dir / "console.log"
        self._connect = connect or libvirt.open
        self._conn: Any = None
        self._domain: Any = None
        self.started_at: float | None = None
        mac = mac_for(identifier, VBOX_MAC_PREFIX)
        self._nic = NicSpec("isolated", mac) if config.network == "isolated" else None
        if self._nic is not None:
            self._set_network_addresses(mac=mac, ipv4=GUEST)
        self._prepare()

    # --- resources ------------------------------------------------------------------------
    def _prepare(self) -> None:
        if not self.config.disk.is_file():
            raise ContextError(f"VirtualBox disk {self.config.disk} does not exist")
        self.config.runs_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(mode=0o770)
        # Lets the stale-run sweep of the QEMU contexts remove it if this process dies.
        (self.run_dir / "owner.json").write_text(json.dumps({"pid": os.getpid()}))

    def machine_spec(self) -> MachineSpec:
        """The run's device model; VirtualBox uses its disk, shape, NIC and serial ports."""
        guest = self.config.guest
        return MachineSpec(
            name=domain_name(self.identifier),
            uuid=self.identifier,
            profile=guest.profile,
            accel="kvm",  # VirtualBox virtualises in hardware; unused by vbox_xml
            memory_mib=self.config.memory_mib,
            vcpus=self.config.vcpus,
            kernel=guest.kernel,
            initrd=guest.initrd,
            cmdline=guest.cmdline,
            disk=self.config.disk,
            agent_socket=self.agent_socket,
            console_log=self.console_log,
            nic=self._nic,
            time_warp=False,
        )

    def domain_xml(self) -> str:
        try:
            return vbox_xml(self.machine_spec())
        except ValueError as exc:
            raise ContextError(str(exc)) from exc

    @property
    def hypervisor(self) -> Any:
        """The libvirt connection (SEE's ``context.hypervisor``); ContextError before power-on."""
        if self._conn is None:
            raise ContextError("not connected to VirtualBox yet (power the context on first)")
        return self._conn

    @property
    def domain(self) -> Any:
        """The libvirt domain (SEE's ``context.domain``); ContextError before power-on."""
        if self._domain is None:
            raise ContextError("the VirtualBox VM is not defined (power the context on first)")
        return self._domain

    # --- lifecycle ------------------------------------------------------------------------
    def _poweron(self) -> None:
        if self._conn is None:
            try:
                self._conn = self._connect(self.config.uri)
            except libvirt.libvirtError as exc:
                raise ContextError(
                    f"cannot connect to VirtualBox through libvirt at {self.config.uri}: {exc}"
                ) from exc
            if self._conn is None:
                raise ContextError(f"cannot connect to libvirt at {self.config.uri}")
            sweep_stale_domains(self._conn, self.config.runs_dir)
        if self._domain is None:
            self._domain = self._call(
                "define the VirtualBox VM", self._conn.defineXML, self.domain_xml()
            )
        self._call("start the VirtualBox VM", self._domain.create)
        self.started_at = time.monotonic()
        log.info("started VirtualBox VM %s", domain_name(self.identifier))

    def _pause(self) -> None:
        self._call("pause the VirtualBox VM", self.domain.suspend)

    def _resume(self) -> None:
        self._call("resume the VirtualBox VM", self.domain.resume)

    def _poweroff(self) -> None:
        self._destroy()

    def _shutdown(self, timeout: float | None) -> None:
        try:
            self.domain.shutdown()
        except libvirt.libvirtError as exc:
            log.warning("graceful shutdown request failed (%s); powering off", exc)
        deadline = time.monotonic() + (SHUTDOWN_TIMEOUT if timeout is None else timeout)
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.2)
        self._destroy()

    def _restart(self) -> None:
        self._call("reboot the VirtualBox VM", self.domain.reboot, 0)

    def is_running(self) -> bool:
        return domain_active(self._domain)

    def _destroy(self) -> None:
        refused = destroy_domain(self._domain)
        if refused is not None:
            raise ContextError(f"cannot power off the VirtualBox VM: {refused}") from refused

    @staticmethod
    def _call(what: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except libvirt.libvirtError as exc:
            raise ContextError(f"cannot {what}: {exc}") from exc

    def cleanup(self) -> None:
        """Power off, undefine the VM, close the connection, remove the run directory.

        Every step runs even when an earlier one fails; the failures are raised together.
        """
        errors: list[str] = []
        try:
            self._destroy()
        except ContextError as exc:
            errors.append(str(exc))
        if self._domain is not None:
            try:
                self._undefine(self._domain)
            except libvirt.libvirtError as exc:
                errors.append(f"cannot undefine the VirtualBox VM: {exc}")
            self._domain = None
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError as exc:
                errors.append(f"closing the libvirt connection: {exc}")
            self._conn = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if errors:
            raise ContextError("; ".join(errors))

    @staticmethod
    def _undefine(domain: Any) -> None:
        try:
            domain.undefine()
        except libvirt.libvirtError:
            # A VM with snapshots needs their metadata gone too.
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
