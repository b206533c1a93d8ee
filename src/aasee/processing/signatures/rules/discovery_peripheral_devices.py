"""Peripheral device discovery: USB, PCI and input devices listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

LISTERS = ("lsusb", "lspci", "hwinfo", "usb-devices", "lsscsi", "lshw", "inxi", "lsdev")
DEVICE_FILES = ("/sys/bus/usb/devices/*/product", "/sys/bus/usb/devices/*/manufacturer",
                "/proc/bus/input/devices", "/sys/bus/pci/devices/*/vendor",
                "/proc/bus/pci/devices")  # fmt: skip


class PeripheralDeviceDiscovery(Signature):
    id = "discovery_peripheral_devices"
    name = "Lists attached devices"
    description = (
        "Runs lsusb, lspci, hwinfo, usb-devices, lsscsi or lshw, or xinput list, or reads the "
        "USB, PCI and input device lists with a text tool: attached hardware (keyboards, "
        "cameras, removable drives, virtual devices that give a sandbox away)."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1120",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*LISTERS):
            if not {"-h", "--help", "-V", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("xinput"):
            if run.item.args[:1] in (("list",), ()):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", DEVICE_FILES):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
