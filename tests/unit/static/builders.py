"""Test inputs for the static analysis: programs built with gcc, hand-made ELF and PE files.

The ELF and PE files are written with struct from the format specifications, so the parsers
are checked against known values rather than against themselves.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HELLO_C = """
#include <stdio.h>
int main(int argc, char **argv) { puts(argc > 1 ? argv[1] : "hello"); return 0; }
"""


def gcc(source: str, output: Path, *flags: str) -> Path:
    """Compile ``source`` (C) to ``output`` with gcc; fails the test if gcc is missing."""
    compiler = shutil.which("gcc")
    assert compiler, "gcc is needed to build the test ELF files (Debian package gcc)"
    source_path = output.with_suffix(".c")
    source_path.write_text(source)
    subprocess.run(
        [compiler, "-O1", "-w", *flags, "-o", str(output), str(source_path)],
        check=True,
        capture_output=True,
    )
    return output


def string_table_program(strings: list[str]) -> str:
    """C source of a program that keeps every one of ``strings`` in its read-only data."""
    body = ",\n".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in strings)
    return (
        "#include <stdio.h>\n"
        f"const char *const table[] = {{\n{body}\n}};\n"
        "int main(int argc, char **argv) {\n"
        "  for (unsigned i = 0; i < sizeof table / sizeof *table; i++)\n"
        "    if (argc > 5) puts(table[i]);\n"
        "  return 0;\n"
        "}\n"
    )


# --- ELF ------------------------------------------------------------------------------------

ELF64_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
ELF64_PHDR = struct.Struct("<IIQQQQQQ")
ELF32_HEADER_BE = struct.Struct(">16sHHIIIIIHHHHHH")
ELF32_PHDR_BE = struct.Struct(">IIIIIIII")
PT_LOAD = 1
EM_X86_64, EM_MIPS = 62, 8


def _ident(bits: int, big_endian: bool) -> bytes:
    return b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big_endian else 1, 1, 0]) + bytes(8)


def segments_only_elf64(payload: bytes, *, after_headers: bytes = b"") -> bytes:
    """An x86_64 executable with two PT_LOAD segments and no section headers."""
    headers = ELF64_HEADER.size + 2 * ELF64_PHDR.size
    total = headers + len(after_headers) + len(payload)
    header = ELF64_HEADER.pack(
        _ident(64, False), 2, EM_X86_64, 1, 0x400000 + headers, ELF64_HEADER.size, 0, 0,
        ELF64_HEADER.size, ELF64_PHDR.size, 2, 64, 0, 0,
    )  # fmt: skip
    load_text = ELF64_PHDR.pack(PT_LOAD, 5, 0, 0x400000, 0x400000, total, total, 0x1000)
    load_data = ELF64_PHDR.pack(PT_LOAD, 6, 0, 0x800000, 0x800000, 0, 0x10000, 0x1000)
    return header + load_text + load_data + after_headers + payload


def mips_be_elf32(payload: bytes) -> bytes:
    """A big-endian 32-bit MIPS executable with one PT_LOAD segment and no sections."""
    headers = ELF32_HEADER_BE.size + ELF32_PHDR_BE.size
    total = headers + len(payload)
    header = ELF32_HEADER_BE.pack(
        _ident(32, True), 2, EM_MIPS, 1, 0x400000 + headers, ELF32_HEADER_BE.size, 0, 0,
        ELF32_HEADER_BE.size, ELF32_PHDR_BE.size, 1, 40, 0, 0,
    )  # fmt: skip
    load = ELF32_PHDR_BE.pack(PT_LOAD, 0, 0x400000, 0x400000, total, total, 5, 0x1000)
    return header + load + payload


def upx_like_elf(program: bytes) -> bytes:
    """An ELF laid out the way UPX packs one (upx-ucl is not in Debian 12 to make a real one).

    UPX puts its loader info (a checksum, the ``UPX!`` magic, sizes, version and format) right
    after the program headers, then the compressed program, its banner, and a trailer that
    repeats the magic.
    """
    l_info = struct.pack("<I4sHBB", 0x1234ABCD, b"UPX!", 0x400, 13, 22)
    banner = (
        b"$Info: This file is packed with the UPX executable packer http://upx.sf.net $\n"
        b"$Id: UPX 4.02 Copyright (C) 1996-2023 the UPX Team. All Rights Reserved. $\n"
    )
    compressed = zlib.compress(program, 9)
    trailer = b"UPX!" + struct.pack("<IIII", len(program), len(compressed), 0, 0)
    return segments_only_elf64(compressed + banner + trailer, after_headers=l_info)


def with_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with one header field overwritten."""
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]


E_PHOFF, E_SHOFF, E_PHNUM, E_SHNUM, E_SHSTRNDX = 0x20, 0x28, 0x38, 0x3C, 0x3E
"""Offsets of ELF64 header fields."""


# --- PE -------------------------------------------------------------------------------------

IMAGE_SCN_CNT_CODE = 0x20
IMAGE_SCN_CNT_INITIALIZED_DATA = 0x40
IMAGE_SCN_MEM_EXECUTE = 0x20000000
IMAGE_SCN_MEM_READ = 0x40000000
IMAGE_SCN_MEM_WRITE = 0x80000000
_EXEC_READ = IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ
_FILE_ALIGN, _SECTION_ALIGN = 0x200, 0x1000


@dataclass
class PeSpec:
    bits: int = 64
    dll: bool = False
    timestamp: int = 1_700_000_000
    subsystem: int = 3  # IMAGE_SUBSYSTEM_WINDOWS_CUI
    sections: list[tuple[bytes, bytes, int]] = field(
        default_factory=lambda: [
            (b".text", b"\x31\xc0\xc3" + bytes(61), IMAGE_SCN_CNT_CODE | _EXEC_READ)
        ]
    )  # fmt: skip
    imports: dict[str, list[str]] = field(
        default_factory=lambda: {"KERNEL32.dll": ["CreateProcessA", "VirtualAlloc"]}
    )


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _import_section(rva: int, imports: dict[str, list[str]], bits: int) -> tuple[bytes, int]:
    """Import descriptors, lookup tables, hint/name entries and DLL names placed at ``rva``."""
    thunk = "<Q" if bits == 64 else "<I"
    thunk_size = struct.calcsize(thunk)
    descriptors_size = 20 * (len(imports) + 1)
    blob = bytearray(descriptors_size)
    descriptors = []
    for dll, functions in imports.items():
        names_rvas = []
        for function in functions:
            names_rvas.append(rva + len(blob))
            blob += struct.pack("<H", 0) + function.encode() + b"\0"
            if len(blob) % 2:
                blob += b"\0"
        dll_rva = rva + len(blob)
        blob += dll.encode() + b"\0"
        tables = []
        for _ in range(2):  # lookup table, then address table
            tables.append(rva + len(blob))
            for name_rva in names_rvas:
                blob += struct.pack(thunk, name_rva)
            blob += bytes(thunk_size)
        descriptors.append(struct.pack("<IIIII", tables[0], 0, 0, dll_rva, tables[1]))
    blob[: 20 * len(descriptors)] = b"".join(descriptors)
    return bytes(blob), descriptors_size


def build_pe(spec: PeSpec | None = None) -> bytes:
    """A PE32 or PE32+ image with the given code sections and an .idata import section."""
    spec = spec or PeSpec()
    sections = list(spec.sections)
    import_rva = _SECTION_ALIGN * (len(sections) + 1)
    idata, import_size = _import_section(import_rva, spec.imports, spec.bits)
    if spec.imports:
        flags = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE
        sections.append((b".idata", idata, flags))
    optional_size = 240 if spec.bits == 64 else 224
    headers_size = _align(0x40 + 4 + 20 + optional_size + 40 * len(sections), _FILE_ALIGN)
    image_size = _SECTION_ALIGN * (len(sections) + 1)
    directories = [(0, 0)] * 16
    if spec.imports:
        directories[1] = (import_rva, import_size)
    dirs = b"".join(struct.pack("<II", *d) for d in directories)
    if spec.bits == 64:
        optional = struct.pack(
            "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
            0x20B, 14, 0, 0x200, 0x200, 0, _SECTION_ALIGN, _SECTION_ALIGN, 0x140000000,
            _SECTION_ALIGN, _FILE_ALIGN, 6, 0, 0, 0, 6, 0, 0, image_size, headers_size, 0,
            spec.subsystem, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )  # fmt: skip
        machine, characteristics = 0x8664, 0x0022
    else:
        optional = struct.pack(
            "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
            0x10B, 14, 0, 0x200, 0x200, 0, _SECTION_ALIGN, _SECTION_ALIGN, 0, 0x400000,
            _SECTION_ALIGN, _FILE_ALIGN, 6, 0, 0, 0, 6, 0, 0, image_size, headers_size, 0,
            spec.subsystem, 0x8140, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )  # fmt: skip
        machine, characteristics = 0x14C, 0x0102
    if spec.dll:
        characteristics |= 0x2000
    file_header = struct.pack(
        "<HHIIIHH", machine, len(sections), spec.timestamp, 0, 0, len(optional) + len(dirs),
        characteristics,
    )  # fmt: skip
    table = b""
    bodies = b""
    raw_offset = headers_size
    for index, (name, body, flags) in enumerate(sections):
        raw_size = _align(len(body), _FILE_ALIGN)
        table += struct.pack(
            "<8sIIIIIIHHI", name, len(body), _SECTION_ALIGN * (index + 1), raw_size, raw_offset,
            0, 0, 0, 0, flags,
        )  # fmt: skip
        bodies += body + bytes(raw_size - len(body))
        raw_offset += raw_size
    dos = b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
    headers = dos + b"PE\0\0" + file_header + optional + dirs + table
    return headers + bytes(headers_size - len(headers)) + bodies


def random_bytes(size: int, seed: int = 1) -> bytes:
    """Incompressible bytes, the same for a given seed."""
    import random

    return random.Random(seed).randbytes(size)
