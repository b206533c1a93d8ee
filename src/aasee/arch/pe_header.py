"""Windows PE files told from their headers: machine, PE32 or PE32+, subsystem, DLL, .NET.

A PE file is not an architecture of its own (the Wine guest is the x86-64 profile): this
module only reads what decides whether, and in which guest flavour, a PE file can run.
``identify_pe(head)`` reads the MZ header, ``e_lfanew``, the COFF header and the optional
header from the first bytes of a file (``PE_HEAD_BYTES`` is enough for any linker's
layout), bounded and defensively: a truncated or malformed header gives None, never an
exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["PE_HEAD_BYTES", "PeIdentity", "identify_pe"]

PE_HEAD_BYTES = 4096
"""How much of a file ``identify_pe`` needs (``e_lfanew`` is below this in practice)."""

MACHINES = {
    0x014C: "i386",
    0x8664: "x86-64",
    0x01C0: "ARM",
    0x01C4: "ARMv7 Thumb-2",
    0xAA64: "ARM64",
    0x0200: "Itanium",
    0x5032: "RISC-V 32",
    0x5064: "RISC-V 64",
}
SUBSYSTEMS = {
    1: "native",
    2: "Windows GUI",
    3: "Windows console",
    5: "OS/2 console",
    7: "POSIX console",
    9: "Windows CE",
    10: "EFI application",
    11: "EFI boot service driver",
    12: "EFI runtime driver",
    13: "EFI ROM",
    14: "Xbox",
    16: "Windows boot application",
}
RUNNABLE_MACHINES = frozenset({0x014C, 0x8664})
"""What Wine on an x86-64 guest runs: i386 (WoW64) and x86-64 programs."""
IMAGE_FILE_SYSTEM = 0x1000
IMAGE_FILE_DLL = 0x2000
CLR_DIRECTORY = 14


@dataclass(frozen=True)
class PeIdentity:
    """What the headers of one PE file say."""

    machine: int
    pe32_plus: bool
    subsystem: int
    characteristics: int
    clr: bool
    """A CLR (.NET) header is present: managed code, which needs a .NET runtime."""

    @property
    def machine_name(self) -> str:
        return MACHINES.get(self.machine, f"machine 0x{self.machine:04x}")

    @property
    def subsystem_name(self) -> str:
        return SUBSYSTEMS.get(self.subsystem, f"subsystem {self.subsystem}")

    @property
    def is_dll(self) -> bool:
        return bool(self.characteristics & IMAGE_FILE_DLL)

    @property
    def is_driver(self) -> bool:
        """A kernel driver or system file: native subsystem, or the SYSTEM flag."""
        return self.subsystem == 1 or bool(self.characteristics & IMAGE_FILE_SYSTEM)

    @property
    def kind(self) -> str:
        return "PE32+" if self.pe32_plus else "PE32"

    def describe(self) -> str:
        """``PE32+ executable (Windows console, x86-64)``, as told to users."""
        what = "DLL" if self.is_dll else "driver" if self.is_driver else "executable"
        extra = ", .NET" if self.clr else ""
        return f"{self.kind} {what} ({self.subsystem_name}, {self.machine_name}{extra})"

    def not_runnable_reason(self) -> str | None:
        """Why Wine in the guest cannot run this file (None: it can try)."""
        if self.machine not in RUNNABLE_MACHINES:
            return (
                f"it is a {self.describe()}: Wine in the x86-64 guest runs only i386 and "
                "x86-64 Windows programs"
            )
        if self.is_driver:
            return (
                f"it is a {self.describe()}: a Windows kernel driver or native system file, "
                "which Wine cannot load (it has no Windows kernel)"
            )
        if self.clr:
            return (
                f"it is a {self.describe()}: managed .NET code, and the Wine guest has no "
                ".NET runtime (Wine Mono is not part of Debian)"
            )
        if self.subsystem not in (2, 3):
            return f"it is a {self.describe()}, not a Windows GUI or console program"
        return None


def identify_pe(head: bytes) -> PeIdentity | None:
    """The PE identity of a file starting with ``head``; None if it is not a PE file."""
    if len(head) < 0x40 or head[:2] != b"MZ":
        return None
    (offset,) = struct.unpack_from("<I", head, 0x3C)
    if offset < 0x40 or offset + 24 + 2 > len(head) or head[offset : offset + 4] != b"PE\0\0":
        return None
    machine, _sections, _stamp, _symtab, _symbols, optional_size, characteristics = (
        struct.unpack_from("<HHIIIHH", head, offset + 4)
    )
    optional = offset + 24
    (magic,) = struct.unpack_from("<H", head, optional)
    if magic == 0x10B:
        pe32_plus, directories = False, optional + 96
    elif magic == 0x20B:
        pe32_plus, directories = True, optional + 112
    else:
        return None
    if optional + 70 > len(head):
        return None
    (subsystem,) = struct.unpack_from("<H", head, optional + 68)
    count_at = directories - 4
    clr = False
    if count_at + 4 <= len(head):
        (count,) = struct.unpack_from("<I", head, count_at)
        entry = directories + CLR_DIRECTORY * 8
        inside = directories + 8 * min(count, 16) <= optional + optional_size
        if count > CLR_DIRECTORY and inside and entry + 8 <= len(head):
            rva, size = struct.unpack_from("<II", head, entry)
            clr = rva != 0 and size != 0
    return PeIdentity(
        machine=machine,
        pe32_plus=pe32_plus,
        subsystem=subsystem,
        characteristics=characteristics,
        clr=clr,
    )
