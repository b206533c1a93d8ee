"""The libvirt QEMU sandbox (SEE's): one transient, disposable domain per run.

The domain is the run's ``MachineSpec`` rendered as libvirt XML, started transient with
AUTODESTROY, so libvirt kills it when our connection closes, even if this process is
SIGKILLed; ``cleanup()`` and the stale-run sweep remove the run's files. A tap inside the
run's own network namespace cannot be handed to libvirt, so this context serves the
``isolated`` and ``none`` networks; the fake internet runs in the process context.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

import libvirt
import libvirt_qemu

from aasee.contexts.libvirt_connection import (
    DEFAULT_URI,
    connect,
)
from aasee.contexts.libvirt_domain import DomainLifecycle
from aasee.contexts.machine import libvirt_xml
from aasee.contexts.qemu_config import (
    DOMAIN_PREFIX,
    ContextError,
    QemuConfig,
    domain_name,
    guest_addresses,
    machine_spec,
    prepare_run_dir,
)
from aasee.core import ContextBase

log = logging.getLogger(__name__)


class LibvirtQemuContext(DomainLifecycle, ContextBase):
    """A transient libvirt/QEMU domain plus its per-run overlay and files."""

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"agent_channel", "console_log", "disk_overlay", "qmp", "run_dir"}
    )

    def __init__(self, identifier: str, config: QemuConfig) -> None:
        super().__init__(identifier)
        self.config = config
        mac, ipv4 = guest_addresses(config, identifier)
        self._set_network_addresses(mac=mac, ipv4=ipv4)
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
        prepare_run_dir(
            self.config.runs_dir, self.run_dir, guest.disk, self.overlay, self.config.memory_mib
        )

    def domain_xml(self) -> str:
        if self.config.network not in ("isolated", "none"):
            raise ContextError(
                f"network mode {self.config.network!r} runs QEMU in the run's own network "
                "namespace, which libvirt cannot do: use the QEMU process context"
            )
        spec = machine_spec(self.config, self.identifier, self.run_dir, self.overlay, qmp=False)
        return libvirt_xml(spec)

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

    def qmp(self, command: str, **arguments: Any) -> Any:
        """Run a QMP command on this VM's QEMU through libvirt."""
        if command == "dump-guest-memory":
            # The DUMP_COMPLETED event of a dump libvirt did not start kills libvirtd (9.0).
            raise ContextError("dump-guest-memory through libvirt: use dump_memory()")
        message = json.dumps({"execute": command, "arguments": arguments})
        try:
            reply = libvirt_qemu.qemuMonitorCommand(self.domain, message, 0)
        except libvirt.libvirtError as exc:
            raise ContextError(f"QMP {command} failed: {exc}") from exc
        return json.loads(reply).get("return")

    def dump_memory(self, path: Path) -> None:
        """Write the guest's memory to ``path`` as an ELF core file: QEMU's dump-guest-memory
        (paging off), run by libvirt as a job of its own; the guest is paused meanwhile."""
        try:
            self.domain.coreDumpWithFormat(
                str(path), libvirt.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, libvirt.VIR_DUMP_MEMORY_ONLY
            )
        except libvirt.libvirtError as exc:
            raise ContextError(f"memory dump failed: {exc}") from exc

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


def list_sandbox_domains(uri: str = DEFAULT_URI) -> list[str]:
    """Names of every AASEE domain libvirt knows, running or defined."""
    conn = connect(uri)
    try:
        return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(DOMAIN_PREFIX))
    finally:
        conn.close()
