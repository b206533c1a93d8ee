"""One description of a sandbox VM, rendered as a QEMU command line or as libvirt XML.

``MachineSpec`` is the device model of every QEMU-based context: what the architecture
profile says (emulator, machine, CPU, buses, console) plus what the run adds (disk overlay,
agent channel, console file, NIC, monitor, time warp, incoming state). Both renderers emit
the same devices at the same PCI slots, so a state saved from one boot restores into another
process made from the same spec, and a libvirt domain and a bare QEMU process of one spec are
the same machine.
"""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aasee.arch import ArchProfile

__all__ = [
    "AGENT_PORT",
    "DISPLAY_CONSOLE",
    "DISPLAY_SLOT",
    "ISOLATED_NETDEV",
    "NETDEV_ID",
    "TIME_WARP_ARGS",
    "HardwareIdentity",
    "MachineSpec",
    "NicSpec",
    "libvirt_xml",
    "mac_for",
    "qemu_argv",
    "vbox_xml",
]

AGENT_PORT = "org.aasee.agent"
NETDEV_ID = "aenet0"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# QEMU user networking with restrict=on: the guest has a NIC and a gateway but reaches
# nothing, neither the host nor the internet (measured; without restrict it reaches both).
ISOLATED_NETDEV = f"user,id={NETDEV_ID},restrict=on,net=10.0.2.0/24,host=10.0.2.2"
# icount with sleep=off: when every vCPU idles, virtual time jumps to the next timer instead
# of waiting for it, so a sample's sleep(600) passes in a second or two of wall time while
# guest clocks stay consistent with each other.
TIME_WARP_ARGS = ("-icount", "shift=auto,sleep=off")
# A display is a standard VGA adapter at a slot no virtio device of any profile uses, and the
# kernel console mirrored on it (tty0 first, so that /dev/console stays the serial console).
DISPLAY_SLOT = 0x2
DISPLAY_CONSOLE = "console=tty0"
DISPLAY_ARCHES = ("x86_64", "i686")


@dataclass(frozen=True)
class HardwareIdentity:
    """What the guest's firmware and devices say they are (SMBIOS, NIC vendor, CPU model).

    Left empty, QEMU's own identity shows through (``QEMU Standard PC``, MAC 52:54:00).
    """

    mac_prefix: str = "52:54:00"
    smbios: tuple[tuple[int, tuple[tuple[str, str], ...]], ...] = ()
    """(SMBIOS table type, ((field, value), ...)) entries, e.g. type 1 manufacturer."""
    cpu_model_id: str | None = None
    """The CPU model string the guest reads (x86 ``model-id``); None keeps QEMU's."""
    cpu_vendor: str | None = None
    """The x86 CPUID vendor (``GenuineIntel``) matching ``cpu_model_id``; TCG only."""
    cpu_signature: tuple[int, int, int] | None = None
    """The x86 CPUID (family, model, stepping) matching ``cpu_model_id``; TCG only."""
    cpu_features: tuple[str, ...] = ()
    """x86 CPU flags to add (``+sse4.2``) or remove (``-svm``) to match the model; TCG only."""
    hide_hypervisor: bool = False
    """Clear the x86 CPUID hypervisor bit (and, under KVM, KVM's signature)."""
    acpi_oem: tuple[str, str] | None = None
    """(OEM id, OEM table id) of the x86 ACPI tables instead of QEMU's BOCHS/BXPC."""
    disk_serial: str | None = None


@dataclass(frozen=True)
class NicSpec:
    """The guest NIC: on a tap passed in as a descriptor, or on isolated user networking."""

    backend: Literal["tap-fd", "isolated"]
    mac: str
    fd: int | None = None

    def netdev(self) -> str:
        if self.backend == "tap-fd":
            # Opened without IFF_VNET_HDR, or the host-side capture holds virtio headers.
            return f"tap,id={NETDEV_ID},fd={self.fd}"
        return ISOLATED_NETDEV


@dataclass(frozen=True)
class MachineSpec:
    name: str
    uuid: str
    profile: ArchProfile
    accel: Literal["kvm", "tcg"]
    memory_mib: int
    vcpus: int
    kernel: Path
    initrd: Path
    cmdline: str
    disk: Path
    agent_socket: Path
    console_log: Path
    qmp_socket: Path | None = None
    nic: NicSpec | None = None
    time_warp: bool = True
    incoming: bool = False
    identity: HardwareIdentity = field(default_factory=HardwareIdentity)
    extra_args: tuple[str, ...] = ()
    display: bool = False
    """A VGA display (x86 only) showing the kernel console, for screenshots."""

    def kernel_cmdline(self) -> str:
        """The guest kernel's command line; with a display, the console is mirrored on it."""
        if self.display and DISPLAY_CONSOLE not in self.cmdline.split():
            return f"{DISPLAY_CONSOLE} {self.cmdline}"
        return self.cmdline

    @property
    def warped(self) -> bool:
        """Time warp needs instruction counting, which only TCG has."""
        return self.time_warp and self.accel == "tcg" and self.profile.emulation.time_warp

    def cpu(self) -> str | None:
        emulation = self.profile.emulation
        model = emulation.cpu_kvm if self.accel == "kvm" else emulation.cpu_tcg
        identity = self.identity
        if emulation.libvirt_arch != "x86_64":
            return model
        options: list[str] = []
        if identity.hide_hypervisor:
            options += ["-hypervisor", *(["kvm=off"] if self.accel == "kvm" else [])]
        if self.accel == "tcg":
            # Under KVM the host's own CPU shows through: its vendor and model are real.
            if identity.cpu_vendor:
                options.append(f"vendor={identity.cpu_vendor}")
            if identity.cpu_signature:
                family, cpu_model, stepping = identity.cpu_signature
                options += [f"family={family}", f"model={cpu_model}", f"stepping={stepping}"]
            options += identity.cpu_features
        if identity.cpu_model_id and (self.accel == "tcg" or not identity.cpu_vendor):
            options.append(f"model-id={identity.cpu_model_id.replace(',', ',,')}")
        if options:
            model = ",".join([model or "qemu64", *options])
        return model


def mac_for(identifier: str, prefix: str = "52:54:00") -> str:
    """A stable MAC for a run: the prefix, then three bytes of the run's identifier."""
    digits = "".join(c for c in identifier.lower() if c in "0123456789abcdef")[:6].ljust(6, "0")
    return prefix + ":" + ":".join(digits[i : i + 2] for i in range(0, 6, 2))


def _machine(spec: MachineSpec) -> str:
    emulation = spec.profile.emulation
    return ",".join([emulation.machine, *emulation.machine_options])


def _device(spec: MachineSpec, model: str, slot: int, *options: str) -> str:
    bus = spec.profile.emulation.pci_bus
    return ",".join([model, *options, f"bus={bus}", f"addr={slot:#x}"])


# BIOS characteristics of a real firmware: PCI, APM, upgradeable (flash), shadowing, boot from
# CD, selectable boot, EDD, and the legacy int 5h/9h/14h/17h/10h services.
_BIOS_CHARACTERISTICS = sum(1 << bit for bit in (7, 10, 11, 12, 15, 16, 19, 24, 25, 26, 27, 28))
SMBIOS_TYPE0_FILE = "smbios-type0.bin"


def smbios_type0(fields: dict[str, str]) -> bytes:
    """An SMBIOS type 0 (BIOS information) structure, as a real firmware's.

    QEMU builds its own with the "SMBIOS table describes a virtual machine" bit set
    (characteristics extension byte 2, bit 4), which ``systemd-detect-virt`` reports as
    ``vm-other``; given a binary type 0, QEMU uses it instead of building one.
    """
    strings = [fields.get("vendor", ""), fields.get("version", ""), fields.get("date", "")]
    major, _, minor = fields.get("release", "0.0").partition(".")
    index = [i + 1 if text else 0 for i, text in enumerate(strings)]
    formatted = struct.pack(
        "<BBHBBHBBQBBBBBB",
        0,  # type
        0x18,  # length of the formatted area (SMBIOS 2.4)
        0,  # handle
        index[0],
        index[1],
        0xE800,  # BIOS starting address segment
        index[2],
        0x3F,  # ROM size: 64 KiB * (n + 1) = 4 MiB
        _BIOS_CHARACTERISTICS,
        0x03,  # ext 1: ACPI, USB legacy
        0x04,  # ext 2: targeted content distribution; not UEFI, not a virtual machine
        int(major or 0) & 0xFF,
        int(minor or 0) & 0xFF,
        0xFF,  # no embedded controller
        0xFF,
    )
    text = b"".join(s.encode("ascii", "replace")[:64] + b"\0" for s in strings if s)
    return formatted + (text or b"\0") + b"\0"


def _smbios_args(identity: HardwareIdentity, directory: Path | None = None) -> list[str]:
    args: list[str] = []
    for table, fields in identity.smbios:
        if table == 0 and directory is not None and directory.is_dir():
            # The run directory holds the table QEMU reads (a plan without one, e.g. in a
            # test, keeps QEMU's own type 0 with these fields).
            path = directory / SMBIOS_TYPE0_FILE
            path.write_bytes(smbios_type0(dict(fields)))
            os.chmod(path, 0o644)
            args += ["-smbios", f"file={path}"]
            continue
        # Commas in values are doubled, QEMU's escape for option strings.
        rendered = ",".join(f"{k}={v.replace(',', ',,')}" for k, v in fields)
        args += ["-smbios", f"type={table},{rendered}"]
    if identity.acpi_oem:
        # A second -machine merges into the first (x86 pc/q35 only).
        args += [
            "-machine",
            f"x-oem-id={identity.acpi_oem[0]},x-oem-table-id={identity.acpi_oem[1]}",
        ]
    return args


def qemu_argv(spec: MachineSpec) -> list[str]:
    """The QEMU command line of ``spec`` (the process context runs exactly this)."""
    emulation = spec.profile.emulation
    argv = [
        emulation.emulator,
        "-name",
        spec.name,
        "-uuid",
        spec.uuid,
        "-machine",
        f"{_machine(spec)},accel={spec.accel}",
        "-m",
        str(spec.memory_mib),
        "-smp",
        str(spec.vcpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        str(spec.kernel),
        "-initrd",
        str(spec.initrd),
        "-append",
        spec.kernel_cmdline(),
        "-drive",
        f"file={spec.disk},if=none,id=disk0,format=qcow2,cache=unsafe",
        "-device",
        _device(
            spec,
            "virtio-blk-pci",
            spec.profile.emulation.pci_slots.disk,
            "drive=disk0",
            *([f"serial={spec.identity.disk_serial}"] if spec.identity.disk_serial else []),
        ),
        "-device",
        _device(spec, "virtio-serial-pci", spec.profile.emulation.pci_slots.serial, "id=vser0"),
        "-chardev",
        f"socket,id=agent0,path={spec.agent_socket},server=on,wait=off",
        "-device",
        f"virtserialport,bus=vser0.0,nr=1,chardev=agent0,name={AGENT_PORT}",
        "-chardev",
        f"file,id=console0,path={spec.console_log}",
        "-serial",
        "chardev:console0",
        "-object",
        "rng-random,id=rng0,filename=/dev/urandom",
        "-device",
        _device(spec, "virtio-rng-pci", spec.profile.emulation.pci_slots.rng, "rng=rng0"),
    ]
    cpu = spec.cpu()
    if cpu:
        argv += ["-cpu", cpu]
    argv += _smbios_args(spec.identity, spec.console_log.parent)
    if spec.qmp_socket is not None:
        argv += ["-qmp", f"unix:{spec.qmp_socket},server=on,wait=off"]
    if _has_display(spec):
        argv += ["-device", _device(spec, "VGA", DISPLAY_SLOT)]
    argv += _nic_args(spec)
    if spec.warped:
        argv += TIME_WARP_ARGS
    if spec.incoming:
        argv += ["-incoming", "defer"]
    return argv + list(spec.extra_args)


def _has_display(spec: MachineSpec) -> bool:
    if spec.display and spec.profile.emulation.libvirt_arch not in DISPLAY_ARCHES:
        raise ValueError(
            f"a display is available on x86 guests only, not {spec.profile.name}: its kernel "
            "has no console on a PCI VGA adapter"
        )
    return spec.display


def _nic_args(spec: MachineSpec) -> list[str]:
    if spec.nic is None:
        return []
    return [
        "-netdev",
        spec.nic.netdev(),
        "-device",
        _device(
            spec,
            "virtio-net-pci",
            spec.profile.emulation.pci_slots.nic,
            f"netdev={NETDEV_ID}",
            f"mac={spec.nic.mac}",
        ),
    ]


def libvirt_xml(spec: MachineSpec) -> str:
    """The libvirt domain of ``spec``: the same machine, for libvirt's QEMU driver.

    The devices libvirt models natively are described as libvirt devices; what it cannot
    express (isolated user networking with ``restrict=on``, icount, SMBIOS strings beyond
    its sysinfo) goes through ``<qemu:commandline>`` with exactly the arguments the process
    context would use.
    """
    ET.register_namespace("qemu", QEMU_NS)
    emulation = spec.profile.emulation
    domain = ET.Element("domain", {"type": "kvm" if spec.accel == "kvm" else "qemu"})
    ET.SubElement(domain, "name").text = spec.name
    ET.SubElement(domain, "uuid").text = spec.uuid
    ET.SubElement(domain, "memory", {"unit": "MiB"}).text = str(spec.memory_mib)
    ET.SubElement(domain, "vcpu").text = str(spec.vcpus)
    os_el = ET.SubElement(domain, "os")
    ET.SubElement(
        os_el, "type", {"arch": emulation.libvirt_arch, "machine": emulation.machine}
    ).text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(spec.kernel)
    ET.SubElement(os_el, "initrd").text = str(spec.initrd)
    ET.SubElement(os_el, "cmdline").text = spec.kernel_cmdline()
    if emulation.libvirt_arch == "x86_64":
        features = ET.SubElement(domain, "features")
        ET.SubElement(features, "acpi")
    cpu = spec.cpu()
    if spec.accel == "kvm":
        ET.SubElement(domain, "cpu", {"mode": "host-passthrough"})
    elif cpu and "," not in cpu:
        cpu_el = ET.SubElement(domain, "cpu", {"mode": "custom", "match": "exact"})
        ET.SubElement(cpu_el, "model", {"fallback": "forbid"}).text = cpu
    ET.SubElement(domain, "clock", {"offset": "utc"})
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(domain, event).text = "destroy"
    devices = ET.SubElement(domain, "devices")
    ET.SubElement(devices, "emulator").text = f"/usr/bin/{emulation.emulator}"
    disk = ET.SubElement(devices, "disk", {"type": "file", "device": "disk"})
    ET.SubElement(disk, "driver", {"name": "qemu", "type": "qcow2", "cache": "unsafe"})
    ET.SubElement(disk, "source", {"file": str(spec.disk)})
    ET.SubElement(disk, "target", {"dev": "vda", "bus": "virtio"})
    if spec.identity.disk_serial:
        ET.SubElement(disk, "serial").text = spec.identity.disk_serial
    _pci_address(disk, spec.profile.emulation.pci_slots.disk)
    controller = ET.SubElement(devices, "controller", {"type": "virtio-serial", "index": "0"})
    _pci_address(controller, spec.profile.emulation.pci_slots.serial)
    channel = ET.SubElement(devices, "channel", {"type": "unix"})
    ET.SubElement(channel, "source", {"mode": "bind", "path": str(spec.agent_socket)})
    ET.SubElement(channel, "target", {"type": "virtio", "name": AGENT_PORT})
    ET.SubElement(channel, "address", {"type": "virtio-serial", "controller": "0", "port": "1"})
    serial = ET.SubElement(devices, "serial", {"type": "file"})
    ET.SubElement(serial, "source", {"path": str(spec.console_log), "append": "off"})
    ET.SubElement(serial, "target", {"port": "0"})
    rng = ET.SubElement(devices, "rng", {"model": "virtio"})
    ET.SubElement(rng, "backend", {"model": "random"}).text = "/dev/urandom"
    _pci_address(rng, spec.profile.emulation.pci_slots.rng)
    if _has_display(spec):
        # No <graphics>: the adapter is there for the guest and for QMP screendump only.
        video = ET.SubElement(devices, "video")
        ET.SubElement(video, "model", {"type": "vga", "vram": "16384", "heads": "1"})
        _pci_address(video, DISPLAY_SLOT)
    ET.SubElement(devices, "memballoon", {"model": "none"})
    args: list[str] = []
    if spec.nic is not None:
        if spec.nic.backend != "isolated":
            raise ValueError(
                "a tap in the run's network namespace cannot be given to libvirt: "
                "only isolated user networking (or no NIC) renders as libvirt XML"
            )
        args += _nic_args(spec)
    if spec.warped:
        args += TIME_WARP_ARGS
    args += _smbios_args(spec.identity, spec.console_log.parent)
    if cpu and "," in cpu:
        args += ["-cpu", cpu]
    args += list(spec.extra_args)
    if args:
        cmdline = ET.SubElement(domain, f"{{{QEMU_NS}}}commandline")
        for arg in args:
            ET.SubElement(cmdline, f"{{{QEMU_NS}}}arg", {"value": arg})
    return ET.tostring(domain, encoding="unicode")


VBOX_DISK_FORMATS = {".vdi": "vdi", ".vmdk": "vmdk", ".vhd": "vpc"}
"""Bootable disk images VirtualBox opens, by file suffix (libvirt's name of the format)."""
VBOX_ARCHES = ("x86_64", "i686")
VBOX_NIC_MODEL = "82540EM"  # Intel PRO/1000 MT Desktop: VirtualBox's default, in every guest


def vbox_xml(spec: MachineSpec) -> str:
    """The libvirt domain of ``spec`` for libvirt's VirtualBox driver (``vbox:///session``).

    VirtualBox has no direct kernel boot, no virtio-serial and no QEMU command line, so the
    machine is the spec's closest VirtualBox equivalent: ``spec.disk`` must be a bootable
    disk image (VDI, VMDK or VHD, with its own boot loader, kernel and init) attached as the
    first SATA disk and marked read-only, which VirtualBox turns into an *immutable* medium:
    the base is never written, the guest writes to a differencing image that VirtualBox
    resets at every power-on. ``kernel``, ``initrd``, ``cmdline``, ``accel``, ``qmp_socket``,
    time warp, SMBIOS strings and extra QEMU arguments have no VirtualBox equivalent and are
    ignored. The console is COM1 written to ``console_log``; the agent channel is COM2, a
    host pipe (a unix socket VirtualBox serves) at ``agent_socket``, so the guest's agent
    must talk over ``/dev/ttyS1`` instead of its virtio port. An ``isolated`` NIC is a
    VirtualBox *internal network* of its own (named after the domain): the guest reaches
    neither the host nor other VMs. Raises ValueError for what VirtualBox cannot run.
    """
    emulation = spec.profile.emulation
    if emulation.libvirt_arch not in VBOX_ARCHES:
        raise ValueError(
            f"VirtualBox runs x86 guests only, not {spec.profile.name} ({emulation.libvirt_arch})"
        )
    disk_format = VBOX_DISK_FORMATS.get(spec.disk.suffix.lower())
    if disk_format is None:
        raise ValueError(
            f"VirtualBox boots a bootable VDI, VMDK or VHD disk image, not {spec.disk.name}: "
            "it has no direct kernel boot"
        )
    if spec.incoming:
        raise ValueError("a saved QEMU state cannot be restored into VirtualBox")
    if spec.nic is not None and spec.nic.backend != "isolated":
        raise ValueError(
            "VirtualBox cannot use a tap in the run's network namespace: only isolated "
            "networking (or no NIC) renders for VirtualBox"
        )
    domain = ET.Element("domain", {"type": "vbox"})
    ET.SubElement(domain, "name").text = spec.name
    ET.SubElement(domain, "uuid").text = spec.uuid
    ET.SubElement(domain, "memory", {"unit": "MiB"}).text = str(spec.memory_mib)
    ET.SubElement(domain, "vcpu").text = str(spec.vcpus)
    os_el = ET.SubElement(domain, "os")
    ET.SubElement(os_el, "type", {"arch": emulation.libvirt_arch}).text = "hvm"
    ET.SubElement(os_el, "boot", {"dev": "hd"})
    features = ET.SubElement(domain, "features")
    for feature in ("pae", "acpi", "apic"):
        ET.SubElement(features, feature)
    ET.SubElement(domain, "clock", {"offset": "utc"})
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        ET.SubElement(domain, event).text = "destroy"
    devices = ET.SubElement(domain, "devices")
    disk = ET.SubElement(devices, "disk", {"type": "file", "device": "disk"})
    ET.SubElement(disk, "driver", {"type": disk_format})
    ET.SubElement(disk, "source", {"file": str(spec.disk)})
    ET.SubElement(disk, "target", {"dev": "sda", "bus": "sata"})
    ET.SubElement(disk, "readonly")
    if spec.nic is not None:
        interface = ET.SubElement(devices, "interface", {"type": "internal"})
        ET.SubElement(interface, "source", {"name": spec.name})
        ET.SubElement(interface, "mac", {"address": spec.nic.mac})
        ET.SubElement(interface, "model", {"type": VBOX_NIC_MODEL})
    console = ET.SubElement(devices, "serial", {"type": "file"})
    ET.SubElement(console, "source", {"path": str(spec.console_log)})
    ET.SubElement(console, "target", {"port": "0"})
    agent = ET.SubElement(devices, "serial", {"type": "pipe"})
    ET.SubElement(agent, "source", {"path": str(spec.agent_socket)})
    ET.SubElement(agent, "target", {"port": "1"})
    # Without a graphics device libvirt starts the VM with VirtualBox's GUI on DISPLAY :0;
    # a remote display makes it start headless (VRDE, on loopback only).
    graphics = ET.SubElement(devices, "graphics", {"type": "rdp", "autoport": "yes"})
    ET.SubElement(graphics, "listen", {"type": "address", "address": "127.0.0.1"})
    video = ET.SubElement(devices, "video")
    ET.SubElement(video, "model", {"type": "vbox", "vram": "16384", "heads": "1"})
    return ET.tostring(domain, encoding="unicode")


def _pci_address(parent: ET.Element, slot: int) -> None:
    ET.SubElement(
        parent,
        "address",
        {
            "type": "pci",
            "domain": "0x0000",
            "bus": "0x00",
            "slot": f"{slot:#04x}",
            "function": "0x0",
        },
    )
