"""The hardware a guest image claims to run on: firmware strings, NIC vendor, CPU model.

Evasive malware reads ``/sys/class/dmi/id``, the NIC's MAC, ``/proc/cpuinfo`` (model name,
the ``hypervisor`` flag) and the disk serial before it acts. The x86-64 server guest claims
to be a Dell PowerEdge rack server with an Intel Xeon CPU; the device guests (device-tree
boards, no SMBIOS) only get a router vendor's MAC prefix. ``ImageHardware`` is recorded in
the image's JSON at build time, its serial numbers derived from the image's name and inputs,
so an image keeps one identity for its whole life and every run of it shows the same one.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from aasee.contexts.machine import HardwareIdentity

__all__ = ["ImageHardware", "hardware_for"]

SERVER_MAC_PREFIX = "00:14:22"
"""Dell Inc.'s OUI (the NIC of a PowerEdge's own network ports)."""
ROUTER_MAC_PREFIX = "50:c7:bf"
"""TP-Link's OUI: the device guests play home routers and cameras."""
_TAG_LETTERS = "0123456789BCDFGHJKLMNPQRSTVWXYZ"


class ImageHardware(BaseModel):
    """What one image's machine says it is; empty strings leave QEMU's own values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mac_prefix: str = "52:54:00"
    smbios: bool = False
    """Whether the firmware strings below are given (x86 SMBIOS only)."""
    bios_vendor: str = ""
    bios_version: str = ""
    bios_date: str = ""
    bios_release: str = ""
    system_manufacturer: str = ""
    system_product: str = ""
    system_family: str = ""
    system_sku: str = ""
    system_serial: str = ""
    board_product: str = ""
    board_version: str = ""
    board_serial: str = ""
    chassis_serial: str = ""
    cpu_model_id: str | None = None
    cpu_vendor: str | None = None
    cpu_signature: tuple[int, int, int] | None = None
    """(family, model, stepping) of ``cpu_model_id``."""
    cpu_features: tuple[str, ...] = ()
    """CPU flags added or removed to match the model (TCG's ``qemu64`` is an AMD-like CPU)."""
    cpu_speed_mhz: int = 0
    memory_manufacturer: str = ""
    memory_part: str = ""
    hide_hypervisor: bool = False
    acpi_oem_id: str = ""
    """The ACPI tables' OEM id (6 characters at most) and table id (8 at most)."""
    acpi_oem_table_id: str = ""
    disk_serial: str | None = None

    def identity(self) -> HardwareIdentity:
        """The machine-level form every context renders."""
        smbios: list[tuple[int, tuple[tuple[str, str], ...]]] = []
        if self.smbios:
            manufacturer = self.system_manufacturer
            smbios = [
                (
                    0,
                    (
                        ("vendor", self.bios_vendor),
                        ("version", self.bios_version),
                        ("date", self.bios_date),
                        ("release", self.bios_release),
                    ),
                ),
                (
                    1,
                    (
                        ("manufacturer", manufacturer),
                        ("product", self.system_product),
                        ("version", ""),
                        ("serial", self.system_serial),
                        ("sku", self.system_sku),
                        ("family", self.system_family),
                    ),
                ),
                (
                    2,
                    (
                        ("manufacturer", manufacturer),
                        ("product", self.board_product),
                        ("version", self.board_version),
                        ("serial", self.board_serial),
                    ),
                ),
                (
                    3,
                    (
                        ("manufacturer", manufacturer),
                        ("serial", self.chassis_serial),
                    ),
                ),
            ]
            if self.cpu_model_id:
                speed = str(self.cpu_speed_mhz)
                processor = (
                    ("sock_pfx", "CPU"),
                    ("manufacturer", "Intel"),
                    ("version", self.cpu_model_id),
                    ("max-speed", speed),
                    ("current-speed", speed),
                )
                smbios.append((4, processor))
            if self.memory_manufacturer:
                memory = (
                    ("loc_pfx", "A"),
                    ("bank", "Not Specified"),
                    ("manufacturer", self.memory_manufacturer),
                    ("part", self.memory_part),
                    ("speed", "2666"),
                )
                smbios.append((17, memory))
        return HardwareIdentity(
            mac_prefix=self.mac_prefix,
            smbios=tuple(
                (table, tuple((k, v) for k, v in fields if v)) for table, fields in smbios
            ),
            cpu_model_id=self.cpu_model_id,
            cpu_vendor=self.cpu_vendor,
            cpu_signature=self.cpu_signature,
            cpu_features=self.cpu_features,
            hide_hypervisor=self.hide_hypervisor,
            acpi_oem=(self.acpi_oem_id, self.acpi_oem_table_id) if self.acpi_oem_id else None,
            disk_serial=self.disk_serial,
        )


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def _service_tag(seed: str) -> str:
    """A Dell service tag: seven letters and digits without vowels."""
    digest = _digest("tag:" + seed)
    return "".join(_TAG_LETTERS[b % len(_TAG_LETTERS)] for b in digest[:7])


def hardware_for(image_name: str, userland: str, seed: str) -> ImageHardware:
    """The hardware of image ``image_name`` (a ``debian`` server or a ``busybox`` device);
    ``seed`` (the image's inputs) makes its serial numbers."""
    if userland != "debian":
        return ImageHardware(mac_prefix=ROUTER_MAC_PREFIX)
    tag = _service_tag(f"{image_name}:{seed}")
    digest = _digest(f"disk:{image_name}:{seed}").hex().upper()
    return ImageHardware(
        mac_prefix=SERVER_MAC_PREFIX,
        smbios=True,
        bios_vendor="Dell Inc.",
        bios_version="2.19.1",
        bios_date="06/13/2023",
        bios_release="2.19",
        system_manufacturer="Dell Inc.",
        system_product="PowerEdge R640",
        system_family="PowerEdge",
        system_sku="SKU=NotProvided;ModelName=PowerEdge R640",
        system_serial=tag,
        board_product="0H28RR",
        board_version="A07",
        board_serial=f".{tag}.CNFCP00{digest[:8]}.",
        chassis_serial=tag,
        cpu_model_id="Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
        cpu_vendor="GenuineIntel",
        cpu_signature=(6, 85, 7),
        # What TCG emulates of a Cascade Lake Xeon, without AMD's svm that qemu64 has.
        cpu_features=("-svm", "+ssse3", "+sse4.1", "+sse4.2", "+popcnt", "+aes", "+pclmulqdq"),
        cpu_speed_mhz=2200,
        memory_manufacturer="Hynix Semiconductor",
        memory_part="HMA82GR7CJR8N-VK",
        hide_hypervisor=True,
        acpi_oem_id="DELL",
        acpi_oem_table_id="PE_SC3",
        disk_serial=f"S4EVNX0N{digest[8:15]}",
    )
