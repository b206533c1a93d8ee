"""The libvirt QEMU sandbox: one disposable VM per run, gone on every exit path.

Each run gets a directory named by its UUID holding a qcow2 overlay on the (never written)
base image, the agent channel socket and the console log. The domain is transient and
started with AUTODESTROY, so libvirt kills it when our connection closes, even if this
process is SIGKILLed; ``cleanup()`` and the stale-run sweep remove the files.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libvirt
import libvirt_qemu

from aasee.contexts.accel import AccelChoice
from aasee.contexts.libvirt_connection import DEFAULT_URI, connect
from aasee.contexts.network import (
    NETNS_PREFIX,
    list_sandbox_namespaces,
    remove_namespace,
)
from aasee.contexts.uplink import InternetUplink, list_host_tables, remove_host_side
from aasee.core import ContextBase

log = logging.getLogger(__name__)

DOMAIN_PREFIX = "aasee-"
AGENT_PORT = "org.aasee.agent"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"


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


@dataclass(frozen=True)
class QemuConfig:
    guest: GuestSpec
    accel: AccelChoice
    runs_dir: Path
    memory_mib: int = 1024
    vcpus: int = 1
    uri: str = DEFAULT_URI
    network: str = "isolated"  # "isolated": NIC with no route anywhere; "none": no NIC
    time_warp: bool = True  # TCG only: skip guest idle time (defeats sleep-based evasion)
    uplink: InternetUplink | None = None  # "internet" only; from the server configuration
    extra_qemu_args: tuple[str, ...] = field(default_factory=tuple)


def qemu_user() -> tuple[int, int]:
    """The uid/gid libvirt runs QEMU as (Debian: libvirt-qemu), root if there is none."""
    try:
        entry = pwd.getpwnam("libvirt-qemu")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 0, 0


def domain_name(identifier: str) -> str:
    return f"{DOMAIN_PREFIX}{identifier}"


# QEMU user networking with restrict=on: the guest has a NIC and a gateway but reaches
# nothing, neither the host nor the internet (measured; without restrict it reaches both).
ISOLATED_NETDEV = "user,id=aenet0,restrict=on,net=10.0.2.0/24,host=10.0.2.2"
# icount with sleep=off: when every vCPU idles, virtual time jumps to the next timer instead
# of waiting for it, so a sample's sleep(600) passes in a second or two of wall time while
# guest clocks stay consistent with each other.
TIME_WARP_ARGS = ("-icount", "shift=auto,sleep=off")


def nic_args(identifier: str, netdev: str) -> list[str]:
    """The guest NIC on ``netdev`` (whose id must be aenet0), at a fixed PCI slot and MAC."""
    return [
        "-netdev",
        netdev,
        "-device",
        f"virtio-net-pci,netdev=aenet0,mac={_mac_for(identifier)},bus=pci.0,addr=0x10",
    ]


def _mac_for(identifier: str) -> str:
    digits = identifier.replace("-", "")[:6].ljust(6, "0")
    return "52:54:00:" + ":".join(digits[i : i + 2] for i in range(0, 6, 2))


def build_domain_xml(identifier: str, config: QemuConfig, overlay: Path, run_dir: Path) -> str:
    ET.register_namespace("qemu", QEMU_NS)
    kvm = config.accel.accel == "kvm"
    domain = ET.Element("domain", {"type": "kvm" if kvm else "qemu"})
    ET.SubElement(domain, "name").text = domain_name(identifier)
    ET.SubElement(domain, "uuid").text = identifier
    ET.SubElement(domain, "memory", {"unit": "MiB"}).text = str(config.memory_mib)
    ET.SubElement(domain, "vcpu").text = str(config.vcpus)
    os_el = ET.SubElement(domain, "os")
    ET.SubElement(os_el, "type", {"arch": "x86_64", "machine": "pc"}).text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(config.guest.kernel)
    ET.SubElement(os_el, "initrd").text = str(config.guest.initrd)
    ET.SubElement(os_el, "cmdline").text = config.guest.cmdline
    features = ET.SubElement(domain, "features")
    ET.SubElement(features, "acpi")
    if kvm:
        ET.SubElement(domain, "cpu", {"mode": "host-passthrough"})
    ET.SubElement(domain, "clock", {"offset": "utc"})
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(domain, event).text = "destroy"
    devices = ET.SubElement(domain, "devices")
    disk = ET.SubElement(devices, "disk", {"type": "file", "device": "disk"})
    ET.SubElement(disk, "driver", {"name": "qemu", "type": "qcow2", "cache": "unsafe"})
    ET.SubElement(disk, "source", {"file": str(overlay)})
    ET.SubElement(disk, "target", {"dev": "vda", "bus": "virtio"})
    ET.SubElement(devices, "controller", {"type": "virtio-serial", "index": "0"})
    channel = ET.SubElement(devices, "channel", {"type": "unix"})
    ET.SubElement(channel, "source", {"mode": "bind", "path": str(run_dir / "agent.sock")})
    ET.SubElement(channel, "target", {"type": "virtio", "name": AGENT_PORT})
    serial = ET.SubElement(devices, "serial", {"type": "file"})
    ET.SubElement(serial, "source", {"path": str(run_dir / "console.log"), "append": "off"})
    ET.SubElement(serial, "target", {"port": "0"})
    rng = ET.SubElement(devices, "rng", {"model": "virtio"})
    ET.SubElement(rng, "backend", {"model": "random"}).text = "/dev/urandom"
    ET.SubElement(devices, "memballoon", {"model": "none"})
    args: list[str] = []
    if config.network == "isolated":
        args += nic_args(identifier, ISOLATED_NETDEV)
    elif config.network in ("fake", "internet"):
        raise ContextError(
            "the fake-internet network runs QEMU in its own network namespace, "
            "which libvirt cannot do: use the QEMU process context"
        )
    elif config.network != "none":
        raise ContextError(f"unknown network mode {config.network!r} (isolated or none)")
    if config.time_warp and not kvm:
        args += TIME_WARP_ARGS
    args += list(config.extra_qemu_args)
    if args:
        cmdline = ET.SubElement(domain, f"{{{QEMU_NS}}}commandline")
        for arg in args:
            ET.SubElement(cmdline, f"{{{QEMU_NS}}}arg", {"value": arg})
    return ET.tostring(domain, encoding="unicode")


class LibvirtQemuContext(ContextBase):
    """A transient libvirt/QEMU domain plus its per-run overlay and files."""

    def __init__(self, identifier: str, config: QemuConfig) -> None:
        super().__init__(identifier)
        self.config = config
        self.run_dir = config.runs_dir / identifier
        self.overlay = self.run_dir / "overlay.qcow2"
        self.agent_socket = self.run_dir / "agent.sock"
        self.console_log = self.run_dir / "console.log"
        self._conn: libvirt.virConnect | None = None
        self._domain: libvirt.virDomain | None = None
        self.started_at: float | None = None
        self._prepare()

    # --- resources ------------------------------------------------------------------------
    def _prepare(self) -> None:
        guest = self.config.guest
        for label, path in (
            ("disk", guest.disk),
            ("kernel", guest.kernel),
            ("initrd", guest.initrd),
        ):
            if not path.is_file():
                raise ContextError(f"guest {label} {path} does not exist")
        prepare_run_dir(self.config.runs_dir, self.run_dir, guest.disk, self.overlay)

    @property
    def domain(self) -> libvirt.virDomain:
        if self._domain is None:
            raise ContextError("the VM is not running")
        return self._domain

    def domain_xml(self) -> str:
        return build_domain_xml(self.identifier, self.config, self.overlay, self.run_dir)

    # --- lifecycle ------------------------------------------------------------------------
    def _poweron(self) -> None:
        self._conn = connect(self.config.uri, kvm_broken=self.config.accel.kvm_broken)
        try:
            self._domain = self._conn.createXML(
                self.domain_xml(), libvirt.VIR_DOMAIN_START_AUTODESTROY
            )
        except libvirt.libvirtError as exc:
            raise ContextError(f"libvirt could not start the VM: {exc}") from exc
        self.started_at = time.monotonic()
        log.info("started domain %s (%s)", domain_name(self.identifier), self.config.accel.accel)

    def _pause(self) -> None:
        self.domain.suspend()

    def _resume(self) -> None:
        self.domain.resume()

    def _poweroff(self) -> None:
        self._destroy()

    def _shutdown(self, timeout: float | None) -> None:
        try:
            self.domain.shutdown()
        except libvirt.libvirtError as exc:
            log.warning("graceful shutdown request failed (%s); destroying", exc)
        deadline = time.monotonic() + (timeout or 30)
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.2)
        self._destroy()

    def is_running(self) -> bool:
        if self._domain is None:
            return False
        try:
            return bool(self._domain.isActive())
        except libvirt.libvirtError:
            return False

    def _destroy(self) -> None:
        if self._domain is not None:
            try:
                if self._domain.isActive():
                    self._domain.destroy()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise ContextError(f"cannot destroy the VM: {exc}") from exc
            self._domain = None

    def qmp(self, command: str, **arguments: Any) -> Any:
        """Run a QMP command on this VM's QEMU through libvirt."""
        message = json.dumps({"execute": command, "arguments": arguments})
        try:
            reply = libvirt_qemu.qemuMonitorCommand(self.domain, message, 0)
        except libvirt.libvirtError as exc:
            raise ContextError(f"QMP {command} failed: {exc}") from exc
        return json.loads(reply).get("return")

    def cleanup(self) -> None:
        errors: list[str] = []
        try:
            self._destroy()
        except ContextError as exc:
            errors.append(str(exc))
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError as exc:
                errors.append(f"closing the libvirt connection: {exc}")
            self._conn = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if errors:
            raise ContextError("; ".join(errors))


def prepare_run_dir(runs_dir: Path, run_dir: Path, base: Path, overlay: Path) -> None:
    """Create a run's directory (owned by QEMU's user) and its throwaway qcow2 overlay."""
    sweep_stale_runs(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(runs_dir, 0o711)
    run_dir.mkdir(mode=0o770)
    (run_dir / "owner.json").write_text(json.dumps({"pid": os.getpid()}))
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if not _pid_alive(pid):
            remove_namespace(f"{NETNS_PREFIX}{run.name}")
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


def list_sandbox_domains(uri: str = DEFAULT_URI) -> list[str]:
    """Names of every AASEE domain libvirt knows, running or defined."""
    conn = connect(uri)
    try:
        return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(DOMAIN_PREFIX))
    finally:
        conn.close()
