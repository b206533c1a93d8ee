"""The VirtualBox sandbox: its domain XML against libvirt's schema, its lifecycle against a
recording libvirt double (VirtualBox itself cannot run here), and its sandbox kind."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import libvirt
import pytest

from aasee.arch import get_profile
from aasee.contexts.accel import AccelChoice
from aasee.contexts.machine import MachineSpec, NicSpec, vbox_xml
from aasee.contexts.qemu_config import ContextError, GuestSpec, QemuConfig
from aasee.contexts.sandboxes import SandboxRequest, get_sandbox, sandbox_names
from aasee.contexts.vbox import (
    VBoxConfig,
    VirtualBoxContext,
    bootable_disk,
    sweep_stale_domains,
)
from aasee.core import (
    ContextStateError,
    Environment,
    Event,
    Hook,
    HookLoadError,
    HookManager,
    HookParameters,
    HooksConfig,
)

RUN = Path("/var/lib/aasee/runs/r1")
UUID = "0b7e1c2a-5f7e-4b9c-9a57-0d6f2a4c1e11"


def _spec(**changes: Any) -> MachineSpec:
    values: dict[str, Any] = {
        "name": "aasee-r1",
        "uuid": UUID,
        "profile": get_profile("x86_64"),
        "accel": "kvm",
        "memory_mib": 512,
        "vcpus": 2,
        "kernel": Path("/img/k"),
        "initrd": Path("/img/i"),
        "cmdline": "console=ttyS0",
        "disk": Path("/img/guest.vdi"),
        "agent_socket": RUN / "agent.sock",
        "console_log": RUN / "console.log",
        "nic": NicSpec("isolated", "08:00:27:0b:7e:1c"),
    }
    values.update(changes)
    return MachineSpec(**values)


def _validate(xml: str, tmp_path: Path) -> None:
    """libvirt's own schema, through its own validator (needs xmllint)."""
    validator = shutil.which("virt-xml-validate")
    assert validator, "virt-xml-validate is missing: run `make install` (libvirt-clients)"
    assert shutil.which("xmllint"), "xmllint is missing: run `make install` (libxml2-utils)"
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    result = subprocess.run(
        [validator, str(path), "domain"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the domain XML -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        _spec(),
        _spec(nic=None),
        _spec(disk=Path("/img/guest.vmdk"), profile=get_profile("x86_64"), vcpus=1),
        _spec(disk=Path("/img/guest.VHD")),
    ],
    ids=["isolated-vdi", "no-nic", "vmdk", "vhd"],
)
def test_vbox_xml_is_valid_for_libvirt(spec: MachineSpec, tmp_path: Path) -> None:
    _validate(vbox_xml(spec), tmp_path)


def test_vbox_xml_describes_the_machine() -> None:
    domain = ET.fromstring(vbox_xml(_spec()))
    assert domain.get("type") == "vbox"
    assert domain.findtext("name") == "aasee-r1"
    assert domain.findtext("uuid") == UUID
    assert domain.findtext("memory") == "512" and domain.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert domain.findtext("vcpu") == "2"
    assert domain.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert domain.find("os/kernel") is None  # no direct kernel boot in VirtualBox
    disk = domain.find("devices/disk")
    assert disk is not None
    assert disk.find("source").get("file") == "/img/guest.vdi"  # type: ignore[union-attr]
    assert disk.find("target").attrib == {"dev": "sda", "bus": "sata"}  # type: ignore[union-attr]
    assert disk.find("readonly") is not None  # immutable: VirtualBox resets it at each start
    interface = domain.find("devices/interface")
    assert interface is not None and interface.get("type") == "internal"
    assert interface.find("source").get("name") == "aasee-r1"  # type: ignore[union-attr]
    assert interface.find("mac").get("address") == "08:00:27:0b:7e:1c"  # type: ignore[union-attr]
    serials = {
        s.find("target").get("port"): (s.get("type"), s.find("source").get("path"))  # type: ignore[union-attr]
        for s in domain.findall("devices/serial")
    }
    assert serials == {
        "0": ("file", str(RUN / "console.log")),
        "1": ("pipe", str(RUN / "agent.sock")),
    }
    graphics = domain.find("devices/graphics")
    assert graphics is not None and graphics.get("type") == "rdp"  # headless, not the GUI
    assert graphics.find("listen").get("address") == "127.0.0.1"  # type: ignore[union-attr]
    assert "qemu" not in vbox_xml(_spec())  # no QEMU command line, no emulator


def test_vbox_xml_without_a_nic_has_no_interface() -> None:
    assert ET.fromstring(vbox_xml(_spec(nic=None))).find("devices/interface") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"disk": Path("/img/guest.qcow2")}, "bootable VDI, VMDK or VHD"),
        ({"profile": get_profile("aarch64")}, "x86 guests only"),
        ({"nic": NicSpec("tap-fd", "08:00:27:00:00:01", 3)}, "network namespace"),
        ({"incoming": True}, "saved QEMU state"),
    ],
    ids=["qcow2", "arm", "tap", "incoming"],
)
def test_vbox_xml_refuses_what_virtualbox_cannot_run(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vbox_xml(_spec(**changes))


# --- a recording libvirt double -------------------------------------------------------------
class FakeDomain:
    def __init__(self, journal: list[str], fail: set[str], name: str = "aasee-" + UUID) -> None:
        self.journal = journal
        self.fail = fail
        self.active = False
        self.stops_on_shutdown = True
        self._name = name

    def name(self) -> str:
        return self._name

    def _call(self, name: str) -> None:
        if self._name != "aasee-" + UUID:
            name = f"{self._name}.{name}"
        self.journal.append(name)
        if name in self.fail:
            raise libvirt.libvirtError(f"{name} failed")

    def create(self) -> int:
        self._call("create")
        self.active = True
        return 0

    def suspend(self) -> int:
        self._call("suspend")
        return 0

    def resume(self) -> int:
        self._call("resume")
        return 0

    def reboot(self, flags: int = 0) -> int:
        self._call("reboot")
        return 0

    def shutdown(self) -> int:
        self._call("shutdown")
        if self.stops_on_shutdown:
            self.active = False
        return 0

    def destroy(self) -> int:
        self._call("destroy")
        self.active = False
        return 0

    def isActive(self) -> int:  # noqa: N802 (libvirt's name)
        return int(self.active)

    def undefine(self) -> int:
        self._call("undefine")
        return 0

    def undefineFlags(self, flags: int) -> int:  # noqa: N802 (libvirt's name)
        self._call(f"undefineFlags({flags})")
        return 0


class FakeConnection:
    """The calls VirtualBoxContext makes on a ``vbox:///session`` connection, recorded."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.journal: list[str] = []
        self.fail = fail or set()
        self.uri: str | None = None
        self.xml: str | None = None
        self.domain = FakeDomain(self.journal, self.fail)
        self.defined: list[FakeDomain] = []

    def listAllDomains(self) -> list[FakeDomain]:  # noqa: N802 (libvirt's name)
        return list(self.defined)

    def open(self, uri: str) -> FakeConnection:
        self.uri = uri
        self.journal.append(f"open({uri})")
        return self

    def defineXML(self, xml: str) -> FakeDomain:  # noqa: N802 (libvirt's name)
        self.journal.append("defineXML")
        if "defineXML" in self.fail:
            raise libvirt.libvirtError("defineXML failed")
        self.xml = xml
        self.defined.append(self.domain)
        return self.domain

    def close(self) -> int:
        self.journal.append("close")
        return 0


def _guest(tmp_path: Path, suffix: str = ".vdi") -> GuestSpec:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    (images / "g.qcow2").write_bytes(b"")
    (images / f"g{suffix}").write_bytes(b"bootable")
    return GuestSpec(
        "g",
        images / "g.qcow2",
        images / "g.vmlinuz",
        images / "g.initrd",
        "c",
        get_profile("x86_64"),
    )


def _context(
    tmp_path: Path, conn: FakeConnection, network: str = "isolated", identifier: str = UUID
) -> VirtualBoxContext:
    guest = _guest(tmp_path)
    config = VBoxConfig(
        guest,
        bootable_disk(guest.disk),
        tmp_path / "runs",
        memory_mib=256,
        uri="vbox:///session",
        network=network,
    )
    return VirtualBoxContext(identifier, config, connect=conn.open)


def _events(context: VirtualBoxContext, journal: list[str]) -> None:
    def record(event: Event) -> None:
        journal.append(f"event:{event.name}")

    context.subscribe("*", record)


def test_lifecycle_maps_to_libvirt_calls_between_the_events(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    _events(context, conn.journal)
    context.poweron()
    assert conn.uri == "vbox:///session"
    assert conn.xml is not None and ET.fromstring(conn.xml).get("type") == "vbox"
    context.pause()
    context.resume()
    context.restart()
    context.shutdown(timeout=5)
    context.poweron()  # again: the VM stays defined, it is only started
    context.poweroff()
    context.cleanup()
    assert conn.journal == [
        "event:pre_poweron",
        f"open({'vbox:///session'})",
        "defineXML",
        "create",
        "event:post_poweron",
        "event:pre_pause",
        "suspend",
        "event:post_pause",
        "event:pre_resume",
        "resume",
        "event:post_resume",
        "event:pre_restart",
        "reboot",
        "event:post_restart",
        "event:pre_shutdown",
        "shutdown",
        "event:post_shutdown",
        "event:pre_poweron",
        "create",
        "event:post_poweron",
        "event:pre_poweroff",
        "destroy",
        "event:post_poweroff",
        "undefine",
        "close",
    ]
    assert not context.run_dir.exists()


def test_the_uri_is_configurable(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    context.config = replace(context.config, uri="vbox+ssh://h/session")
    context.poweron()
    context.cleanup()
    assert conn.uri == "vbox+ssh://h/session"


def test_shutdown_that_the_guest_ignores_ends_in_a_power_off(tmp_path: Path) -> None:
    conn = FakeConnection()
    conn.domain.stops_on_shutdown = False
    context = _context(tmp_path, conn)
    context.poweron()
    context.shutdown(timeout=0)
    assert conn.journal[-2:] == ["shutdown", "destroy"]
    assert context.state == "stopped"
    context.cleanup()


def test_cleanup_of_a_running_vm_powers_it_off_and_undefines_it(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    context.poweron()
    context.cleanup()
    assert conn.journal[-3:] == ["destroy", "undefine", "close"]
    context.cleanup()  # idempotent
    assert conn.journal[-3:] == ["destroy", "undefine", "close"]


def test_cleanup_when_never_powered_on_only_removes_the_run_directory(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    assert context.run_dir.is_dir()
    context.cleanup()
    assert conn.journal == []
    assert not context.run_dir.exists()


def test_a_failed_start_is_cleaned_up(tmp_path: Path) -> None:
    conn = FakeConnection(fail={"create"})
    context = _context(tmp_path, conn)
    with pytest.raises(ContextError, match="cannot start the VirtualBox VM: create failed"):
        context.poweron()
    assert context.state == "created"
    context.cleanup()
    assert conn.journal[-2:] == ["undefine", "close"]


def test_a_failed_definition_is_cleaned_up(tmp_path: Path) -> None:
    conn = FakeConnection(fail={"defineXML"})
    context = _context(tmp_path, conn)
    with pytest.raises(ContextError, match="cannot define the VirtualBox VM"):
        context.poweron()
    context.cleanup()
    assert conn.journal == ["open(vbox:///session)", "defineXML", "close"]


def test_cleanup_carries_on_past_failures_and_reports_them(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    context.poweron()
    conn.fail.update({"destroy", "undefine"})
    with pytest.raises(ContextError, match="cannot power off the VirtualBox VM"):
        context.cleanup()
    # The VM is still undefined (with the snapshot-metadata flag), the connection closed.
    flags = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    assert conn.journal[-4:] == ["destroy", "undefine", f"undefineFlags({flags})", "close"]
    assert not context.run_dir.exists()


def test_an_environment_cleans_up_the_vm_when_its_user_fails(tmp_path: Path) -> None:
    conn = FakeConnection()
    with pytest.raises(ZeroDivisionError):
        with Environment(lambda identifier: _context(tmp_path, conn, identifier=identifier)):
            raise ZeroDivisionError
    assert conn.journal == []  # never powered on: nothing defined
    with pytest.raises(ZeroDivisionError):
        with Environment(
            lambda identifier: _context(tmp_path, conn, identifier=identifier)
        ) as environment:
            environment.context.poweron()
            raise ZeroDivisionError
    assert conn.journal[-3:] == ["destroy", "undefine", "close"]


def test_vms_left_by_dead_runs_are_swept_at_power_on(tmp_path: Path) -> None:
    conn = FakeConnection()
    runs = tmp_path / "runs"
    dead = FakeDomain(conn.journal, conn.fail, "aasee-dead-run")  # its run directory is gone
    dead.active = True
    gone = FakeDomain(conn.journal, conn.fail, "aasee-gone-owner")
    (runs / "gone-owner").mkdir(parents=True)
    (runs / "gone-owner" / "owner.json").write_text('{"pid": 999999999}')
    alive = FakeDomain(conn.journal, conn.fail, "aasee-alive")
    (runs / "alive").mkdir()
    (runs / "alive" / "owner.json").write_text(f'{{"pid": {os.getpid()}}}')
    foreign = FakeDomain(conn.journal, conn.fail, "somebody-elses-vm")
    conn.defined += [dead, gone, alive, foreign]
    context = _context(tmp_path, conn)
    context.poweron()
    assert conn.journal[:5] == [
        "open(vbox:///session)",
        "aasee-dead-run.destroy",
        "aasee-dead-run.undefine",
        "aasee-gone-owner.undefine",
        "defineXML",
    ]
    assert not (runs / "gone-owner").exists() and (runs / "alive").is_dir()
    conn.defined = [alive, conn.domain, foreign]
    assert sweep_stale_domains(conn, runs) == []  # ours is not stale while we live
    context.cleanup()


def test_actions_the_state_does_not_allow_never_reach_libvirt(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    with pytest.raises(ContextStateError, match="cannot pause"):
        context.pause()
    assert conn.journal == []
    context.cleanup()


def test_addresses(tmp_path: Path) -> None:
    conn = FakeConnection()
    context = _context(tmp_path, conn)
    assert context.mac_address is not None and context.mac_address.startswith("08:00:27:")
    assert context.ip4_address == "10.0.2.15"
    offline = _context(tmp_path, conn, network="none", identifier="other-run")
    assert offline.mac_address is None and offline.ip4_address is None
    assert ET.fromstring(offline.domain_xml()).find("devices/interface") is None
    context.cleanup()
    offline.cleanup()


class NeedsQmp(Hook):
    requires: ClassVar[frozenset[str]] = frozenset({"qmp"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)


def test_capabilities_have_no_qmp(tmp_path: Path) -> None:
    context = _context(tmp_path, FakeConnection())
    assert "qmp" not in context.capabilities
    assert {"console_log", "run_dir"} <= context.capabilities
    config = HooksConfig.model_validate({"hooks": [{"name": f"{__name__}.NeedsQmp"}]})
    with pytest.raises(HookLoadError, match="qmp"):
        HookManager(UUID, config, context).load()
    context.cleanup()


def test_bootable_disk_is_found_next_to_the_image(tmp_path: Path) -> None:
    guest = _guest(tmp_path, ".vmdk")
    assert bootable_disk(guest.disk) == guest.disk.with_suffix(".vmdk")
    assert bootable_disk(guest.disk.with_suffix(".vmdk")) == guest.disk.with_suffix(".vmdk")
    with pytest.raises(ContextError, match="bootable disk image"):
        bootable_disk(tmp_path / "nothing.qcow2")


# --- the sandbox kind -----------------------------------------------------------------------
def _request(tmp_path: Path, network: str = "isolated", revert: str = "auto") -> SandboxRequest:
    config = QemuConfig(
        _guest(tmp_path), AccelChoice("tcg", "test"), tmp_path / "runs", network=network
    )
    return SandboxRequest(config, "k1", revert, tmp_path / "snapshots")


def test_virtualbox_kind_plans_one_cold_boot(tmp_path: Path) -> None:
    assert "virtualbox" in sandbox_names()
    plans = get_sandbox("virtualbox").plan(_request(tmp_path))
    assert len(plans) == 1
    assert not plans[0].restoring
    assert plans[0].description == "cold boot (VirtualBox, g.vdi)"
    context = plans[0].factory("run-1")
    assert isinstance(context, VirtualBoxContext)
    assert context.config.uri == "vbox:///session"
    context.cleanup()


def test_virtualbox_kind_uri_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AASEE_VBOX_URI", "vbox+ssh://vm-host/session")
    (plan,) = get_sandbox("virtualbox").plan(_request(tmp_path))
    context = plan.factory("run-2")
    assert isinstance(context, VirtualBoxContext)
    assert context.config.uri == "vbox+ssh://vm-host/session"
    context.cleanup()


@pytest.mark.parametrize(
    ("network", "revert", "message"),
    [
        ("fake", "auto", "no 'fake' network"),
        ("internet", "auto", "no 'internet' network"),
        ("isolated", "snapshot", "no ready snapshots"),
    ],
)
def test_virtualbox_kind_refuses_what_it_cannot_do(
    tmp_path: Path, network: str, revert: str, message: str
) -> None:
    with pytest.raises(ContextError, match=message):
        get_sandbox("virtualbox").plan(_request(tmp_path, network, revert))
