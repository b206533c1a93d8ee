"""A display on the device model: a VGA adapter at a fixed slot and the console mirrored on it,
the same in the QEMU command line and the libvirt XML, and its own snapshots."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.contexts.accel import AccelChoice
from aasee.contexts.machine import DISPLAY_SLOT, MachineSpec, libvirt_xml, qemu_argv
from aasee.contexts.qemu_config import GuestSpec, QemuConfig, machine_spec
from aasee.contexts.snapshots import shape_of, snapshot_key

RUN = Path("/var/lib/aasee/runs/r1")
UUID = "0b7e1c2a-5f7e-4b9c-9a57-0d6f2a4c1e11"


def _config(arch: str = "x86_64", **changes: object) -> QemuConfig:
    guest = GuestSpec(
        "g", Path("/d"), Path("/k"), Path("/i"), "console=ttyS0 quiet", get_profile(arch)
    )
    return QemuConfig(guest, AccelChoice("tcg", "test"), Path("/runs"), **changes)  # type: ignore[arg-type]


def _spec(display: bool, arch: str = "x86_64") -> MachineSpec:
    return machine_spec(_config(arch, display=display), UUID, RUN, RUN / "o.qcow2", qmp=False)


def test_command_line() -> None:
    argv = qemu_argv(_spec(True))
    assert f"VGA,bus=pci.0,addr={DISPLAY_SLOT:#x}" in argv
    # tty0 first: kernel messages on the screen too, /dev/console stays the serial port.
    assert argv[argv.index("-append") + 1] == "console=tty0 console=ttyS0 quiet"
    plain = qemu_argv(_spec(False))
    assert not any(a.startswith("VGA") for a in plain)
    assert plain[plain.index("-append") + 1] == "console=ttyS0 quiet"


def test_display_slot_is_free_on_every_x86_machine() -> None:
    slots = get_profile("x86_64").emulation.pci_slots
    assert DISPLAY_SLOT not in (slots.disk, slots.serial, slots.rng, slots.nic)


def test_libvirt_xml() -> None:
    xml = libvirt_xml(_spec(True))
    root = ET.fromstring(xml)
    video = root.find("devices/video")
    assert video is not None
    model = video.find("model")
    address = video.find("address")
    assert model is not None and model.get("type") == "vga"
    assert address is not None and int(address.get("slot", ""), 16) == DISPLAY_SLOT
    assert root.findtext("os/cmdline") == "console=tty0 console=ttyS0 quiet"
    assert root.find("devices/graphics") is None  # no VNC or SPICE: screendump only
    assert ET.fromstring(libvirt_xml(_spec(False))).find("devices/video") is None
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


@pytest.mark.parametrize("arch", ["aarch64", "mipsel"])
def test_other_architectures_refuse_a_display(arch: str) -> None:
    with pytest.raises(ValueError, match="x86 guests only"):
        qemu_argv(_spec(True, arch))
    with pytest.raises(ValueError, match="x86 guests only"):
        libvirt_xml(_spec(True, arch))


def test_snapshots_of_a_display_guest_are_their_own() -> None:
    plain, shown = _config(), _config(display=True)
    assert "display" not in shape_of(plain)  # keys of existing snapshots do not move
    assert snapshot_key("img", plain) != snapshot_key("img", shown)
