"""Image hardware identities: recorded per image, rendered into the QEMU command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.contexts.machine import HardwareIdentity, MachineSpec, mac_for, qemu_argv
from aasee.images.identity import (
    ROUTER_MAC_PREFIX,
    SERVER_MAC_PREFIX,
    ImageHardware,
    hardware_for,
)
from aasee.images.store import GuestImage

RUN = Path("/var/lib/aasee/runs/r1")


def _spec(arch: str, identity: HardwareIdentity, accel: str = "tcg") -> MachineSpec:
    return MachineSpec(
        name="aasee-r1",
        uuid="0b7e1c2a-5f7e-4b9c-9a57-0d6f2a4c1e11",
        profile=get_profile(arch),
        accel=accel,  # type: ignore[arg-type]
        memory_mib=256,
        vcpus=1,
        kernel=Path("/img/k"),
        initrd=Path("/img/i"),
        cmdline="console=ttyS0",
        disk=RUN / "overlay.qcow2",
        agent_socket=RUN / "agent.sock",
        console_log=RUN / "console.log",
        identity=identity,
    )


def _option(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def _image(name: str, arch: str, hardware: ImageHardware | None) -> GuestImage:
    return GuestImage(
        name=name,
        arch=arch,
        os="debian-bookworm",
        kernel_release="6.1",
        cmdline="console=ttyS0",
        disk=Path("/img/d.qcow2"),
        kernel=Path("/img/k"),
        initrd=Path("/img/i"),
        agent_version="0",
        inputs_key="abc123",
        built_at="2026-01-01T00:00:00+00:00",
        hardware=hardware,
    )


def test_server_identity_renders_smbios_cpu_and_disk_serial() -> None:
    identity = hardware_for("debian-bookworm-amd64", "debian", "abc123").identity()
    argv = qemu_argv(_spec("x86_64", identity))
    smbios = _option(argv, "-smbios")
    tables = {entry.split(",", 1)[0]: entry for entry in smbios}
    assert set(tables) == {"type=0", "type=1", "type=2", "type=3", "type=4", "type=17"}
    assert "vendor=Dell Inc." in tables["type=0"]
    assert "manufacturer=Dell Inc.,product=PowerEdge R640" in tables["type=1"]
    assert "QEMU" not in " ".join(smbios)
    assert _option(argv, "-machine")[1] == "x-oem-id=DELL,x-oem-table-id=PE_SC3"
    cpu = _option(argv, "-cpu")[0].split(",")
    assert cpu[0] == "qemu64"
    assert "-hypervisor" in cpu and "-svm" in cpu and "vendor=GenuineIntel" in cpu
    assert {"family=6", "model=85", "stepping=7"} <= set(cpu)
    assert "model-id=Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz" in cpu
    disk = next(d for d in _option(argv, "-device") if d.startswith("virtio-blk-pci"))
    assert f"serial={identity.disk_serial}" in disk
    assert identity.mac_prefix == SERVER_MAC_PREFIX
    assert mac_for("0b7e1c2a", identity.mac_prefix).startswith("00:14:22:")


def test_under_kvm_the_host_cpu_shows_without_the_hypervisor_bit() -> None:
    identity = hardware_for("debian-bookworm-amd64", "debian", "abc123").identity()
    cpu = _spec("x86_64", identity, accel="kvm").cpu()
    assert cpu == "host,-hypervisor,kvm=off"


def test_commas_in_a_cpu_model_are_escaped() -> None:
    identity = HardwareIdentity(cpu_model_id="Intel, Inc. CPU")
    assert _spec("x86_64", identity).cpu() == "qemu64,model-id=Intel,, Inc. CPU"


def test_serials_are_stable_per_image_and_differ_between_images() -> None:
    one = hardware_for("debian-bookworm-amd64", "debian", "abc123")
    assert one == hardware_for("debian-bookworm-amd64", "debian", "abc123")
    other = hardware_for("debian-bookworm-amd64", "debian", "def456")
    assert one.system_serial != other.system_serial
    assert one.disk_serial != other.disk_serial
    assert len(one.system_serial) == 7 and one.system_serial.isalnum()


@pytest.mark.parametrize("arch", ["aarch64", "armhf", "mipsel", "mips"])
def test_device_guests_keep_their_board_and_cpu_but_get_a_router_mac(arch: str) -> None:
    image = _image(f"iot-{arch}", arch, None)
    identity = image.hardware_identity()
    assert identity.mac_prefix == ROUTER_MAC_PREFIX
    argv = qemu_argv(_spec(arch, identity))
    assert _option(argv, "-smbios") == []
    assert len(_option(argv, "-machine")) == 1
    assert _option(argv, "-cpu") == [c for c in [get_profile(arch).emulation.cpu_tcg] if c]


def test_the_identity_is_recorded_in_the_image_metadata() -> None:
    hardware = hardware_for("debian-bookworm-amd64", "debian", "abc123")
    image = _image("debian-bookworm-amd64", "x86_64", hardware)
    loaded = GuestImage.model_validate_json(image.model_dump_json())
    assert loaded.hardware == hardware
    assert loaded.hardware_identity() == hardware.identity()
    # An image recorded before identities were: the one its build would have recorded.
    legacy = _image("debian-bookworm-amd64", "x86_64", None)
    assert legacy.hardware_identity() == hardware.identity()


def test_an_empty_identity_keeps_qemus_own() -> None:
    argv = qemu_argv(_spec("x86_64", HardwareIdentity()))
    assert "-smbios" not in argv and "-cpu" not in argv
