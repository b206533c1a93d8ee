"""The device model: one MachineSpec rendered as a QEMU command line and as libvirt XML."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aasee.arch import get_profile, profiles
from aasee.contexts.accel import AccelChoice
from aasee.contexts.machine import (
    AGENT_PORT,
    HardwareIdentity,
    MachineSpec,
    NicSpec,
    libvirt_xml,
    mac_for,
    qemu_argv,
)
from aasee.contexts.qemu_config import GuestSpec, QemuConfig, machine_spec

RUN = Path("/var/lib/aasee/runs/r1")


def _spec(arch: str, **changes: object) -> MachineSpec:
    values: dict[str, object] = {
        "name": "aasee-r1",
        "uuid": "0b7e1c2a-5f7e-4b9c-9a57-0d6f2a4c1e11",
        "profile": get_profile(arch),
        "accel": "tcg",
        "memory_mib": 256,
        "vcpus": 1,
        "kernel": Path("/img/k"),
        "initrd": Path("/img/i"),
        "cmdline": "console=ttyS0",
        "disk": RUN / "overlay.qcow2",
        "agent_socket": RUN / "agent.sock",
        "console_log": RUN / "console.log",
        "qmp_socket": RUN / "qmp.sock",
    }
    values.update(changes)
    return MachineSpec(**values)  # type: ignore[arg-type]


def _option(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


@pytest.mark.parametrize("arch", [p.name for p in profiles()])
def test_every_profile_renders_its_own_emulator_machine_and_bus(arch: str) -> None:
    profile = get_profile(arch)
    argv = qemu_argv(_spec(arch, nic=NicSpec("isolated", "52:54:00:00:00:01")))
    emulation = profile.emulation
    assert argv[0] == emulation.emulator
    machine = _option(argv, "-machine")[0]
    assert machine.startswith(emulation.machine) and machine.endswith("accel=tcg")
    for option in emulation.machine_options:
        assert option in machine
    if emulation.cpu_tcg:
        assert _option(argv, "-cpu") == [emulation.cpu_tcg]
    else:
        assert "-cpu" not in argv
    devices = _option(argv, "-device")
    pci = [d for d in devices if d.startswith("virtio-") and "pci" in d.split(",")[0]]
    assert len(pci) == 4  # disk, serial, rng, NIC
    assert all(f"bus={emulation.pci_bus}" in d for d in pci), pci
    assert any(AGENT_PORT in d for d in devices)
    warp = ["shift=auto,sleep=off"] if profile.emulation.time_warp else []
    assert _option(argv, "-icount") == warp


def test_kvm_uses_the_host_cpu_and_never_warps_time() -> None:
    argv = qemu_argv(_spec("x86_64", accel="kvm"))
    assert _option(argv, "-cpu") == ["host"]
    assert "-icount" not in argv
    assert _option(argv, "-machine")[0] == "pc,accel=kvm"


def test_same_spec_same_slots_for_restore() -> None:
    """A state saved from one process loads into another made from the same spec."""
    one = qemu_argv(_spec("aarch64", incoming=False))
    two = qemu_argv(_spec("aarch64", incoming=True))
    assert _option(one, "-device") == _option(two, "-device")
    assert "-incoming" in two and "-incoming" not in one


def test_config_to_spec_carries_network_and_identity() -> None:
    identity = HardwareIdentity(
        mac_prefix="00:1b:21",
        smbios=((1, (("manufacturer", "Dell Inc."), ("product", "PowerEdge R640"))),),
        cpu_model_id="Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz",
    )
    guest = GuestSpec("g", Path("/d"), Path("/k"), Path("/i"), "c", get_profile("x86_64"), identity)
    config = QemuConfig(guest, AccelChoice("tcg", "test"), Path("/runs"), network="fake")
    spec = machine_spec(config, "abcdef12-0000", RUN, RUN / "o.qcow2", tap_fd=200)
    argv = qemu_argv(spec)
    assert "tap,id=aenet0,fd=200" in _option(argv, "-netdev")
    assert any("mac=00:1b:21:ab:cd:ef" in d for d in _option(argv, "-device"))
    assert _option(argv, "-smbios") == ["type=1,manufacturer=Dell Inc.,product=PowerEdge R640"]
    assert _option(argv, "-cpu") == ["qemu64,model-id=Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz"]
    none = machine_spec(
        QemuConfig(guest, AccelChoice("tcg", "t"), Path("/r"), network="none"), "x", RUN, RUN
    )
    assert "-netdev" not in qemu_argv(none)


def test_mac_for_is_stable_and_hex_only() -> None:
    assert mac_for("0b7e1c2a-...") == "52:54:00:0b:7e:1c"
    assert mac_for("zz") == "52:54:00:00:00:00"


def test_libvirt_refuses_a_namespace_tap() -> None:
    with pytest.raises(ValueError, match="namespace"):
        libvirt_xml(_spec("x86_64", nic=NicSpec("tap-fd", "52:54:00:00:00:01", 200)))


@pytest.mark.parametrize("arch", [p.name for p in profiles()])
def test_libvirt_xml_is_valid_for_libvirt_and_matches_the_command_line(arch: str) -> None:
    spec = _spec(arch, nic=NicSpec("isolated", "52:54:00:00:00:02"))
    xml = libvirt_xml(spec)
    root = ET.fromstring(xml)
    os_type = root.find("os/type")
    assert os_type is not None
    assert os_type.get("arch") == spec.profile.emulation.libvirt_arch
    assert os_type.get("machine") == spec.profile.emulation.machine
    slots = sorted(
        int(address.get("slot", "0"), 16)
        for address in root.iter("address")
        if address.get("type") == "pci"
    )
    wanted = spec.profile.emulation.pci_slots
    # disk, virtio-serial, rng; the NIC goes by command line
    assert slots == sorted([wanted.disk, wanted.serial, wanted.rng])
    assert f"addr={wanted.disk:#x}" in " ".join(qemu_argv(spec))
    qemu_args = [
        arg.get("value") for arg in root.iter("{http://libvirt.org/schemas/domain/qemu/1.0}arg")
    ]
    assert ("-icount" in qemu_args) == spec.profile.emulation.time_warp
    assert "-netdev" in qemu_args
    validator = shutil.which("virt-xml-validate")
    if validator is None or shutil.which("xmllint") is None:
        pytest.fail("virt-xml-validate needs libvirt-clients and libxml2-utils: `make install`")
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as handle:
        handle.write(xml)
        handle.flush()
        result = subprocess.run(
            [validator, handle.name, "domain"], capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stderr


def test_malta_devices_sit_on_slots_with_interrupt_lines() -> None:
    # Linux's Malta IRQ table routes PCI slots 0x12-0x15 only.
    for arch in ("mips", "mipsel"):
        argv = " ".join(qemu_argv(_spec(arch, nic=NicSpec("isolated", "52:54:00:00:00:03"))))
        slots = {int(s, 16) for s in re.findall(r"addr=(0x[0-9a-f]+)", argv)}
        assert slots and slots <= set(range(0x12, 0x16)), slots


def test_smbios_type0_is_a_firmware_table_without_the_vm_bit() -> None:
    from aasee.contexts.machine import smbios_type0

    table = smbios_type0(
        {"vendor": "Dell Inc.", "version": "2.19.1", "date": "03/15/2023", "release": "2.19"}
    )
    assert table[0] == 0 and table[1] == 0x18  # type 0, SMBIOS 2.4 length
    assert table[0x13] & 0x10 == 0  # characteristics ext byte 2: not a virtual machine
    assert table[0x12] & 0x01  # ACPI supported
    assert (table[0x14], table[0x15]) == (2, 19)  # BIOS release
    assert table[0x18:].split(b"\0")[:3] == [b"Dell Inc.", b"2.19.1", b"03/15/2023"]
    assert table.endswith(b"\0\0")
