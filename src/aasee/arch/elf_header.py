"""Reading the first bytes of a (possibly hostile) file as an ELF header, for routing.

Owns :class:`ElfIdentity` and :func:`identify`: class, byte order, machine, flags and OS/ABI
of an ELF file, with names for the machines an analyst meets. Only the fixed-size header is
read; a file too short or malformed to be an ELF executable is "not ELF", never an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

__all__ = ["MACHINE_NAMES", "ElfIdentity", "identify"]

ELF_MAGIC = b"\x7fELF"

MACHINE_NAMES: dict[int, str] = {
    2: "SPARC",
    3: "i386",
    4: "m68k",
    8: "MIPS",
    10: "MIPS (RS3000 LE)",
    15: "PA-RISC",
    18: "SPARC32+",
    20: "PowerPC",
    21: "PowerPC64",
    22: "s390",
    40: "ARM",
    42: "SuperH",
    43: "SPARC V9",
    50: "IA-64",
    62: "x86-64",
    83: "AVR",
    92: "OpenRISC",
    94: "Xtensa",
    164: "Hexagon",
    183: "AArch64",
    188: "TILEPro",
    191: "TILE-Gx",
    243: "RISC-V",
    247: "eBPF",
    258: "LoongArch",
    93: "ARC",
    195: "ARC v2",
}

_TYPES = {0: "none", 1: "relocatable", 2: "executable", 3: "shared object", 4: "core"}


@dataclass(frozen=True)
class ElfIdentity:
    bits: Literal[32, 64]
    endian: Literal["little", "big"]
    machine: int
    flags: int
    osabi: int
    type: str

    @property
    def machine_name(self) -> str:
        return MACHINE_NAMES.get(self.machine, f"machine {self.machine}")

    def describe(self) -> str:
        """How an analyst would name the file's architecture: ``MIPS 32-bit big-endian``."""
        text = f"{self.machine_name} {self.bits}-bit {self.endian}-endian"
        detail = _details(self)
        return f"{text} ({detail})" if detail else text


_MIPS_ISA = {
    0x00000000: "MIPS-I",
    0x10000000: "MIPS-II",
    0x20000000: "MIPS-III",
    0x30000000: "MIPS-IV",
    0x40000000: "MIPS-V",
    0x50000000: "MIPS32",
    0x60000000: "MIPS64",
    0x70000000: "MIPS32r2",
    0x80000000: "MIPS64r2",
    0x90000000: "MIPS32r6",
    0xA0000000: "MIPS64r6",
}


def _details(identity: ElfIdentity) -> str:
    flags = identity.flags
    if identity.machine == 40:  # ARM
        eabi = (flags >> 24) & 0xFF
        float_abi = "hard-float" if flags & 0x400 else "soft-float" if flags & 0x200 else ""
        parts = [f"EABI{eabi}" if eabi else "OABI", float_abi]
        return ", ".join(p for p in parts if p)
    if identity.machine in (8, 10):  # MIPS
        isa = _MIPS_ISA.get(flags & 0xF0000000, f"ISA {flags >> 28:#x}")
        abi = "n32" if flags & 0x20 else "o32" if identity.bits == 32 else "n64"
        return f"{isa}, {abi}"
    return ""


def identify(head: bytes) -> ElfIdentity | None:
    """The ELF header facts of ``head`` (the file's first 64 bytes suffice), or None."""
    if len(head) < 52 or not head.startswith(ELF_MAGIC):
        return None
    ei_class, ei_data, _version, osabi = head[4], head[5], head[6], head[7]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        return None
    order = "<" if ei_data == 1 else ">"
    e_type, e_machine = struct.unpack_from(order + "HH", head, 16)
    if ei_class == 1:
        (e_flags,) = struct.unpack_from(order + "I", head, 36)
    else:
        if len(head) < 64:
            return None
        (e_flags,) = struct.unpack_from(order + "I", head, 48)
    return ElfIdentity(
        bits=32 if ei_class == 1 else 64,
        endian="little" if ei_data == 1 else "big",
        machine=e_machine,
        flags=e_flags,
        osabi=osabi,
        type=_TYPES.get(e_type, f"type {e_type}"),
    )
