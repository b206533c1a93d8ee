"""QEMU run directly (no libvirt), the sandbox that restores ready snapshots in a blink.

libvirt's restore insists that every restored domain keeps the saved domain's UUID (so one
snapshot could back one VM at a time) and costs about 0.8 s; QEMU's own ``-incoming`` puts a
saved memory state into a fresh process in about 0.2 s. The device set is exactly the one
``build_qemu_argv`` describes, for the boot that made the snapshot and every restore of it.

QEMU runs as libvirt's unprivileged QEMU user, dies with its parent (PR_SET_PDEATHSIG), and
every file of a run sits in the run directory that ``cleanup()`` removes.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from qemu.qmp import ConnectError
from qemu.qmp.legacy import QEMUMonitorProtocol

from aasee.arch import profiles
from aasee.contexts.machine import qemu_argv
from aasee.contexts.network import TAP, NetworkError, SandboxNetwork, enter, open_tap
from aasee.contexts.qemu_config import (
    NETWORK_MODES,
    ContextError,
    QemuConfig,
    guest_addresses,
    machine_spec,
    prepare_run_dir,
    qemu_user,
)
from aasee.core import ContextBase

log = logging.getLogger(__name__)
# The QMP library logs every refused connection attempt as an error; ours are expected
# retries while QEMU starts, and real failures surface as ContextError.
logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)

_TAP_SLOT: int | None = None
_TAP_SLOT_LOCK = threading.Lock()
QMP_COMMAND_TIMEOUT = 120.0


def tap_slot() -> int:
    """A descriptor number reserved for the whole process, where children receive their tap.

    subprocess only passes descriptors that exist in the parent, so the number is held by a
    /dev/null placeholder that the child replaces with its tap before exec.
    """
    global _TAP_SLOT
    with _TAP_SLOT_LOCK:
        if _TAP_SLOT is None:
            placeholder = os.open(os.devnull, os.O_RDONLY)
            _TAP_SLOT = fcntl.fcntl(placeholder, fcntl.F_DUPFD_CLOEXEC, 200)
            os.close(placeholder)
        return _TAP_SLOT


PR_SET_PDEATHSIG = 1


def build_qemu_argv(
    identifier: str,
    config: QemuConfig,
    overlay: Path,
    run_dir: Path,
    incoming: bool,
    paused: bool = False,
) -> list[str]:
    """The command line of one run: the run's ``MachineSpec`` as QEMU arguments (``paused``:
    the vCPUs wait for a ``cont``, also after an incoming state has been loaded)."""
    tap = tap_slot() if config.network in ("fake", "internet") else None
    spec = machine_spec(config, identifier, run_dir, overlay, tap_fd=tap, incoming=incoming)
    return [*qemu_argv(spec), *(["-S"] if paused else [])]


def _drop_privileges(uid: int, gid: int, netns: Path | None) -> None:
    # Runs in the child between fork and exec: QEMU must never run as root, and must not
    # outlive us (SIGKILL of the analysing process takes its VM with it).
    if netns is not None:
        enter(netns)
        # QEMU's unprivileged user may not open /dev/net/tun: open the tap here, as root
        # and inside the namespace, at the descriptor number the command line names.
        tap = open_tap(TAP)
        os.dup2(tap, tap_slot())
        os.close(tap)
    os.setsid()
    if uid != 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    # After setuid: changing credentials clears the parent-death signal.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class QemuProcessContext(ContextBase):
    """One QEMU process per run: cold boot, or restore of a saved ready state."""

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "agent_channel",
            "console_log",
            "disk_overlay",
            "qmp",
            "run_dir",
            "network_namespace",
            "snapshots",
        }
    )

    def __init__(
        self,
        identifier: str,
        config: QemuConfig,
        disk_base: Path | None = None,
        state_file: Path | None = None,
        keep_overlay: Path | None = None,
        trace_seal: int | None = None,
    ) -> None:
        super().__init__(identifier)
        self.config = config
        mac, ipv4 = guest_addresses(config, identifier)
        self._set_network_addresses(mac=mac, ipv4=ipv4)
        self.state_file = state_file
        self.trace_seal = trace_seal
        """The seal the restored guest's tracer is armed with (None: a cold boot's own)."""
        self.run_dir = config.runs_dir / identifier
        self.overlay = keep_overlay or self.run_dir / "overlay.qcow2"
        self.agent_socket = self.run_dir / "agent.sock"
        self.console_log = self.run_dir / "console.log"
        self.qmp_socket = self.run_dir / "qmp.sock"
        self._disk_base = disk_base or config.guest.disk
        self._process: subprocess.Popen[bytes] | None = None
        self._qmp: QEMUMonitorProtocol | None = None
        # The QMP client is synchronous and not thread-safe; hooks call it from their own
        # threads (screenshots, memory dumps) as well as from event handlers.
        self._qmp_lock = threading.Lock()
        self.restore_seconds: float | None = None
        self.restored_ahead = False
        """The saved state was loaded before power-on (a warm VM): power-on only resumes."""
        self.network: SandboxNetwork | None = None
        self._prepare()

    @property
    def netns_path(self) -> Path | None:
        return self.network.path if self.network is not None else None

    def _prepare(self) -> None:
        if self.config.network not in NETWORK_MODES:
            raise ContextError(f"unknown network mode {self.config.network!r}")
        if self.config.network == "internet" and self.config.uplink is None:
            raise ContextError(
                "network mode 'internet' needs an uplink from the server configuration"
            )
        prepare_run_dir(
            self.config.runs_dir,
            self.run_dir,
            self._disk_base,
            self.overlay,
            self.config.memory_mib,
        )
        if self.config.network in ("fake", "internet"):
            uid, gid = qemu_user()
            uplink = self.config.uplink if self.config.network == "internet" else None
            self.network = SandboxNetwork(self.identifier, uid, gid, uplink=uplink)
            try:
                self.network.create()
            except NetworkError as exc:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                raise ContextError(f"cannot create the sandbox network: {exc}") from exc

    # --- lifecycle ------------------------------------------------------------------------
    def restore_ahead(self, warm_up: Callable[[Path], None] | None = None) -> float:
        """Load the saved state now and leave the guest paused, outside the lifecycle: a later
        ``poweron()`` only resumes it. ``warm_up(agent_socket)`` runs with the guest resumed
        in between. The seconds the restore took."""
        if self.state_file is None:
            raise ContextError("only a snapshot restore can be made ahead of power-on")
        if self._process is not None:
            raise ContextError(f"VM {self.identifier} is already started")
        self._start(paused=True)
        if warm_up is not None:
            self.qmp("cont")
            warm_up(self.agent_socket)
            self.qmp("stop")
        self.restored_ahead = True
        # The QMP client runs an event loop of the thread that connected it: whoever powers
        # the VM on (another thread) connects again.
        self._close_qmp()
        assert self.restore_seconds is not None
        return self.restore_seconds

    def _poweron(self) -> None:
        if self.restored_ahead:
            if not self.is_running():
                raise ContextError(f"the warm VM {self.identifier} died: {self._stderr_tail()}")
            self._qmp = self._connect_qmp()
            self.qmp("cont")
            log.info("warm VM %s resumed", self.identifier)
            return
        self._start(paused=False)

    def _start(self, paused: bool) -> None:
        incoming = self.state_file is not None
        argv = build_qemu_argv(
            self.identifier, self.config, self.overlay, self.run_dir, incoming, paused
        )
        uid, gid = qemu_user()
        netns = self.netns_path
        start = time.monotonic()
        stderr = (self.run_dir / "qemu.stderr").open("wb")
        if shutil.which(argv[0]) is None:
            raise ContextError(
                f"{argv[0]} is not installed: the {self.config.profile.name} guest needs it "
                "(run `make install`)"
            )
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            preexec_fn=lambda: _drop_privileges(uid, gid, netns),  # noqa: PLW1509
            pass_fds=(tap_slot(),) if netns is not None else (),
        )
        stderr.close()
        self._qmp = self._connect_qmp()
        if incoming:
            assert self.state_file is not None
            self.qmp("migrate-incoming", uri=f"exec:cat {self.state_file}")
            self._wait_incoming(resume=not paused)
            self.restore_seconds = time.monotonic() - start
        log.info(
            "QEMU %s for %s (%s) in %.2f s",
            "restored" if incoming else "started",
            self.identifier,
            self.config.accel.accel,
            time.monotonic() - start,
        )

    def _connect_qmp(self) -> QEMUMonitorProtocol:
        deadline = time.monotonic() + 10
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise ContextError(f"QEMU exited at start: {self._stderr_tail()}")
            if self.qmp_socket.exists():
                monitor = QEMUMonitorProtocol(str(self.qmp_socket))
                try:
                    monitor.connect()
                    # A wedged QEMU (a livelocked vCPU holding its big lock) never answers:
                    # bounded, a command fails and the VM is killed instead of the run hanging.
                    monitor.settimeout(QMP_COMMAND_TIMEOUT)
                    return monitor
                except (OSError, ConnectError):
                    # The socket file appears before QEMU listens on it; retry until then.
                    monitor.close()
            if time.monotonic() > deadline:
                raise ContextError("QEMU's monitor did not accept a connection within 10 s")
            time.sleep(0.01)

    def _wait_incoming(self, resume: bool = True) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self.qmp("query-status")
            state = status.get("status") if isinstance(status, dict) else None
            if state == "running":
                return
            if state == "paused":
                if resume:
                    self.qmp("cont")
                return
            if state in ("inmigrate", "prelaunch"):
                migration = self.qmp("query-migrate")
                if isinstance(migration, dict) and migration.get("status") == "failed":
                    raise ContextError(f"snapshot restore failed: {migration.get('error-desc')}")
            if self._process is not None and self._process.poll() is not None:
                raise ContextError(f"QEMU died while restoring: {self._stderr_tail()}")
            time.sleep(0.01)
        raise ContextError("snapshot restore did not finish within 60 s")

    def _stderr_tail(self) -> str:
        try:
            return (self.run_dir / "qemu.stderr").read_text(errors="replace").strip()[-500:]
        except OSError:
            return "no output"

    def qmp(self, command: str, **arguments: Any) -> Any:
        with self._qmp_lock:
            if self._qmp is None:
                raise ContextError("the VM is not running")
            try:
                return self._qmp.cmd(command, **arguments)
            except Exception as exc:  # the QMP library raises several unrelated types
                raise ContextError(f"QMP {command} failed: {exc}") from exc

    def save_state(self, state_file: Path) -> float:
        """Stop the guest and write its memory and device state to ``state_file``."""
        start = time.monotonic()
        self.qmp("stop")
        self.qmp("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
        self.qmp("migrate", uri=f"exec:cat > {state_file}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = self.qmp("query-migrate")
            status = info.get("status") if isinstance(info, dict) else None
            if status == "completed":
                return time.monotonic() - start
            if status in ("failed", "cancelled"):
                raise ContextError(f"saving the VM state failed: {info.get('error-desc')}")
            time.sleep(0.02)
        raise ContextError("saving the VM state did not finish within 120 s")

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _pause(self) -> None:
        self.qmp("stop")

    def _resume(self) -> None:
        self.qmp("cont")

    def _poweroff(self) -> None:
        self._kill()

    def _restart(self) -> None:
        # A reboot: the same disk, booted afresh. Restoring the snapshot's memory again onto
        # a disk the sample has changed would give a guest whose memory and disk disagree.
        self._kill()
        self.state_file = None
        self._poweron()

    def _shutdown(self, timeout: float | None) -> None:
        try:
            self.qmp("system_powerdown")
        except ContextError as exc:
            log.warning("graceful shutdown request failed (%s)", exc)
        if self._process is not None:
            try:
                self._process.wait(timeout or 30)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def _kill(self) -> None:
        # A command stuck in a wedged QEMU must not keep the VM alive: past a few seconds the
        # process is killed under it, which ends the command.
        self._close_qmp()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(30)
            self._process = None

    def _close_qmp(self) -> None:
        locked = self._qmp_lock.acquire(timeout=10)
        try:
            if self._qmp is not None and locked:
                try:
                    self._qmp.close()
                except Exception as exc:  # noqa: BLE001 - the QMP library raises several types
                    log.warning("closing the monitor of %s: %s", self.identifier, exc)
            self._qmp = None
        finally:
            if locked:
                self._qmp_lock.release()

    def cleanup(self) -> None:
        try:
            self._kill()
        finally:
            if self.network is not None:
                self.network.remove()
            shutil.rmtree(self.run_dir, ignore_errors=True)


def list_qemu_sandboxes() -> list[str]:
    """Names of the AASEE VMs running as direct QEMU processes on this host (any arch)."""
    emulators = {p.emulation.emulator.encode() for p in profiles()}
    names = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].rsplit(b"/", 1)[-1] in emulators and b"-name" in argv:
            name = argv[argv.index(b"-name") + 1].decode(errors="replace")
            if name.startswith("aasee-"):
                names.append(name)
    return sorted(names)
