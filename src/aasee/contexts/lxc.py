"""The LXC sandbox context: one transient libvirt container per run, sharing the host's kernel.

The container's root is the guest image's own file system (extracted once per image build into
a cache) under an overlayfs whose upper layer lives in the run directory, so every run starts
from the image and its changes stay on the host. libvirt's LXC driver (``lxc:///``) starts it
transient with AUTODESTROY, in namespaces of its own (pid, mount, uts, ipc and, with
``privnet``, network) and with the capabilities that would reach the host dropped (no
``sys_admin``, ``sys_module``, ``sys_rawio``, ``sys_time``, ``sys_boot``, ``mknod``, BPF or
perf): a root sample can neither mount, load modules, trace nor set the host's clock.

The agent is the container's init, serving a unix socket in a directory bind-mounted from the
run directory. The kernel tracer cannot run inside (it is the host's kernel), so the host traces
the container's pid namespace with eBPF (``host_tracer``): nothing of it is visible inside.

Weaker than a VM, and said so wherever this context is used: the sample runs on the host's
kernel, so a kernel exploit escapes, and it can tell it is in a container.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from xml.sax.saxutils import escape, quoteattr

import libvirt

from aasee.contexts.host_budget import CONTAINER_MIB, HostBudget, HostFull
from aasee.contexts.libvirt_connection import connect
from aasee.contexts.libvirt_domain import DomainLifecycle
from aasee.contexts.network import NetworkError, SandboxNetwork
from aasee.contexts.packet_capture import NamespaceCapture
from aasee.contexts.qemu_config import (
    ADMIT_WAIT_SECONDS,
    ContextError,
    QemuConfig,
    domain_name,
    guest_addresses,
    sweep_stale_runs,
)
from aasee.core import ContextBase

if TYPE_CHECKING:
    from aasee.contexts.host_tracer import HostTracer, TracerStats

log = logging.getLogger(__name__)

LXC_URI = "lxc:///"
CHANNEL_DIR = "/lib/init/rw"
"""Where the agent's socket appears in the container: an old Debian init path, not a name
that says sandbox."""
CHANNEL_NAME = "initctl"
INIT = "/etc/init.d/rcS"
# What the container keeps; everything else (sys_admin, sys_module, sys_rawio, sys_time,
# sys_boot, mknod, mac_*, audit_control, syslog, bpf, perfmon...) is dropped. sys_resource is
# dropped too: libvirt 9.0 cannot start a container that keeps it under the deny policy
# ("Failed to apply capabilities: -5", measured).
KEPT_CAPABILITIES = (
    "audit_write",
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "ipc_lock",
    "ipc_owner",
    "kill",
    "lease",
    "net_admin",
    "net_bind_service",
    "net_raw",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
    "sys_nice",
    "sys_ptrace",
    "sys_tty_config",
)
NETWORKS = ("fake", "none")


class LxcContext(DomainLifecycle, ContextBase):
    """A transient libvirt LXC container plus its overlay, network and host-side tracer."""

    what = "container"

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "agent_channel",
            "run_dir",
            "network_namespace",
            "packet_capture",
            "host_tracer",
            "shared_clock",
            "container",
        }
    )

    def __init__(self, identifier: str, config: QemuConfig, image_key: str) -> None:
        super().__init__(identifier)
        if config.network not in NETWORKS:
            raise ContextError(
                f"the LXC sandbox offers the networks {' and '.join(NETWORKS)}, "
                f"not {config.network!r}"
            )
        self.config = config
        self.image_key = image_key
        mac, ipv4 = guest_addresses(config, identifier)
        self._set_network_addresses(mac=mac, ipv4=ipv4)
        self.run_dir = config.runs_dir / identifier
        self.root = self.run_dir / "root"
        self.channel_dir = self.run_dir / "channel"
        self.agent_socket = self.channel_dir / CHANNEL_NAME
        self.network: SandboxNetwork | None = None
        self.init_pid: int | None = None
        self._mounted = False
        self._conn: libvirt.virConnect | None = None
        self._domain: libvirt.virDomain | None = None
        self._capture: NamespaceCapture | None = None
        self._tracer: HostTracer | None = None
        self.started_at: float | None = None
        self._prepare()

    @property
    def netns_path(self) -> Path | None:
        return self.network.path if self.network is not None else None

    # --- resources ------------------------------------------------------------------------
    def _prepare(self) -> None:
        lower = container_root(self.config.guest.disk, self.image_key, root_cache(self.config))
        runs_dir = self.config.runs_dir
        sweep_stale_runs(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(runs_dir, 0o711)
        try:
            HostBudget(runs_dir).admit(self.run_dir, CONTAINER_MIB, ADMIT_WAIT_SECONDS, 0o700)
        except HostFull as exc:
            raise ContextError(str(exc)) from exc
        try:
            for name in ("upper", "work", "root", "channel"):
                (self.run_dir / name).mkdir()
            _run(
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    f"lowerdir={lower},upperdir={self.run_dir / 'upper'},"
                    f"workdir={self.run_dir / 'work'}",
                    str(self.root),
                ]
            )
            self._mounted = True
            (self.root / CHANNEL_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
            if self.config.network == "fake":
                self.network = SandboxNetwork(self.identifier, 0, 0, link="veth")
                self.network.create()
        except (ContextError, NetworkError, OSError) as exc:
            self._release()
            raise ContextError(f"cannot prepare the container: {exc}") from exc

    def domain_xml(self) -> str:
        return container_xml(
            domain_name(self.identifier),
            self.root,
            self.channel_dir,
            self.config.memory_mib,
            self.config.vcpus,
        )

    # --- lifecycle ------------------------------------------------------------------------
    def _poweron(self) -> None:
        self._conn = connect(LXC_URI)
        try:
            self._domain = self._conn.createXML(
                self.domain_xml(), libvirt.VIR_DOMAIN_START_AUTODESTROY
            )
        except libvirt.libvirtError as exc:
            raise ContextError(f"libvirt could not start the container: {exc}") from exc
        self.started_at = time.monotonic()
        self.init_pid = _container_init(self._domain)
        if self.network is not None and self.mac_address is not None:
            try:
                self.network.hand_over(self.init_pid, self.mac_address)
            except NetworkError as exc:
                raise ContextError(f"cannot give the container its network: {exc}") from exc
        log.info("started container %s (init pid %d)", domain_name(self.identifier), self.init_pid)

    def _poweroff(self) -> None:
        self._destroy()

    def _shutdown(self, timeout: float | None) -> None:
        # The agent as init has no shutdown path of its own: the container is stopped.
        self._destroy()

    # --- evidence the host takes ------------------------------------------------------------
    def pid_namespace(self) -> int:
        """Inode of the container's pid namespace (what the host tracer filters on)."""
        if self.init_pid is None:
            raise ContextError("the container is not running")
        from aasee.contexts.host_tracer import pidns_inode

        return pidns_inode(self.init_pid)

    def start_host_trace(self, output: Path) -> None:
        """Trace the container's processes from the host into ``output`` (the in-guest
        tracer's text format); returns once the probes are attached."""
        from aasee.contexts.host_tracer import HostTracer

        self._tracer = HostTracer()
        self._tracer.start(self.pid_namespace(), output)

    def stop_host_trace(self) -> TracerStats | None:
        tracer, self._tracer = self._tracer, None
        return tracer.stop() if tracer is not None else None

    def start_packet_capture(self, path: Path, limit: int) -> bool:
        """Capture the container's NIC on the host side; False when it has none."""
        if self.network is None:
            return False
        capture = NamespaceCapture(self.network.path, "aetap0", path, limit)
        capture.start()
        capture.ready.wait(10)
        if capture.failure is not None:
            raise ContextError(f"packet capture failed: {capture.failure}")
        self._capture = capture
        return True

    def stop_packet_capture(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.stop()

    def changes_dir(self) -> Path:
        """The overlay's upper layer: every file the run created or changed (whiteouts for
        deletions), on the host."""
        return self.run_dir / "upper"

    # --- cleanup ------------------------------------------------------------------------------
    def cleanup(self) -> None:
        errors: list[str] = []
        for step in (self.stop_host_trace, self.stop_packet_capture, self._destroy):
            try:
                step()
            except Exception as exc:  # every step runs; all failures are reported together
                errors.append(str(exc))
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError as exc:
                errors.append(f"closing the libvirt connection: {exc}")
            self._conn = None
        errors += self._release()
        if errors:
            raise ContextError("; ".join(errors))

    def _release(self) -> list[str]:
        errors: list[str] = []
        if self.network is not None:
            try:
                self.network.remove()
            except NetworkError as exc:
                errors.append(str(exc))
            self.network = None
        if self._mounted:
            try:
                _unmount(self.root)
                self._mounted = False
            except ContextError as exc:
                errors.append(str(exc))
        if not self._mounted:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return errors


def container_xml(name: str, root: Path, channel: Path, memory_mib: int, vcpus: int) -> str:
    """libvirt's LXC domain of one run: the overlay as ``/``, the agent's channel directory,
    init = the guest's start-up script (ending in the agent on the socket), a network
    namespace of its own and the kept capabilities only."""
    capabilities = "".join(f"<{c} state='on'/>" for c in KEPT_CAPABILITIES)
    return f"""<domain type='lxc'>
  <name>{escape(name)}</name>
  <uuid>{uuid.uuid4()}</uuid>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <vcpu>{int(vcpus)}</vcpu>
  <os>
    <type>exe</type>
    <init>{INIT}</init>
    <initarg>--socket</initarg>
    <initarg>{CHANNEL_DIR}/{CHANNEL_NAME}</initarg>
  </os>
  <features>
    <privnet/>
    <capabilities policy='deny'>{capabilities}</capabilities>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir={quoteattr(str(root))}/>
      <target dir='/'/>
    </filesystem>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir={quoteattr(str(channel))}/>
      <target dir='{CHANNEL_DIR}'/>
    </filesystem>
    <console type='pty'/>
  </devices>
</domain>
"""


def root_cache(config: QemuConfig) -> Path:
    """Where extracted container roots are kept: beside the run directories."""
    return config.runs_dir.parent / "containers"


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContextError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-400:]}")


def _unmount(path: Path) -> None:
    for _ in range(50):
        result = subprocess.run(["umount", str(path)], capture_output=True, text=True)
        if result.returncode == 0 or not os.path.ismount(path):
            return
        time.sleep(0.1)  # the container's last processes are still letting go
    _run(["umount", "--lazy", str(path)])


def _container_init(domain: libvirt.virDomain) -> int:
    """The host pid of the container's init: the child of libvirt's controller (whose pid
    is the domain's id) that lives in another pid namespace."""
    controller = domain.ID()
    own = os.readlink(f"/proc/{controller}/ns/pid")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{controller}/task").iterdir():
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in children:
                try:
                    if os.readlink(f"/proc/{child}/ns/pid") != own:
                        return int(child)
                except OSError:
                    continue
        time.sleep(0.02)
    raise ContextError(
        f"the container's init did not appear under libvirt's controller {controller}"
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def container_root(disk: Path, key: str, cache: Path) -> Path:
    """The guest image's file system as a directory, extracted once per image build.

    ``debugfs rdump`` copies the ext4 tree out of the raw disk with owners, modes and times,
    without mounting anything; concurrent runs wait for the one extracting.
    """
    target = cache / key
    root = target / "root"
    if (target / "complete").is_file():
        return root
    with _locked(cache / f"{key}.lock"):
        if (target / "complete").is_file():
            return root
        if not disk.is_file():
            raise ContextError(f"guest disk {disk} does not exist")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        os.chmod(target, 0o700)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            raw = Path(tmp) / "disk.raw"
            _run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)])
            staging = Path(tmp) / "root"
            staging.mkdir()
            _run(["debugfs", "-R", f"rdump / {staging}", str(raw)])
            shutil.rmtree(staging / "lost+found", ignore_errors=True)
            os.chmod(staging, 0o755)
            os.replace(staging, root)
        (target / "complete").write_text("ok\n")
    return root


def list_sandbox_containers() -> list[str]:
    """Names of every AASEE container libvirt's LXC driver knows, running or defined."""
    conn = connect(LXC_URI)
    try:
        return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith("aasee-"))
    finally:
        conn.close()
