"""ELF header analysis on programs gcc builds and on hand-made and hostile ELF files."""

from __future__ import annotations

import pytest

from aasee.processing.static.elf import MAX_SECTIONS, analyse_elf
from aasee.processing.static.entropy import shannon_entropy
from aasee.processing.static.models import ElfInfo

from .builders import (
    E_PHNUM,
    E_SHNUM,
    E_SHOFF,
    mips_be_elf32,
    random_bytes,
    segments_only_elf64,
    upx_like_elf,
    with_field,
)
from .conftest import Programs


def elf_of(data: bytes) -> tuple[ElfInfo, list[str]]:
    errors: list[str] = []
    info = analyse_elf(data, errors, shannon_entropy(data))
    assert info is not None, errors
    return info, errors


def test_dynamic_program(programs: Programs) -> None:
    errors: list[str] = []
    info = analyse_elf(programs.dynamic.read_bytes(), errors)
    assert info is not None and errors == []
    assert (info.machine, info.bits, info.endianness) == ("x86_64", 64, "little")
    assert info.elf_type == "pie executable"
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert info.needed == ["libc.so.6"]
    assert not info.static and not info.stripped
    assert "puts" in info.imported_functions and "main" not in info.imported_functions
    assert info.symbols > len(info.imported_functions)
    text = next(s for s in info.sections if s.name == ".text")
    assert text.type == "progbits" and text.flags == "AX"
    assert text.entropy is not None and 0 < text.entropy < 8
    bss = next(s for s in info.sections if s.name == ".bss")
    assert bss.type == "nobits" and bss.entropy is None
    assert info.section_count == len(info.sections)
    assert info.packers == [] and not info.truncated


def test_static_and_stripped_programs(programs: Programs) -> None:
    errors: list[str] = []
    static = analyse_elf(programs.static.read_bytes(), errors)
    assert static is not None
    assert static.static and static.interpreter is None and static.needed == []
    assert static.elf_type == "executable" and static.imported_functions == []
    stripped = analyse_elf(programs.stripped.read_bytes(), errors)
    assert stripped is not None and stripped.stripped
    assert "puts" in stripped.imported_functions
    shared = analyse_elf(programs.shared.read_bytes(), errors)
    assert shared is not None and shared.elf_type == "shared object"
    assert errors == []


def test_big_endian_mips_without_sections() -> None:
    info, errors = elf_of(mips_be_elf32(b"\x24\x02\x0f\xa1" * 64))
    assert errors == []
    assert (info.machine, info.bits, info.endianness) == ("mips", 32, "big")
    assert info.section_count == 0 and info.sections == [] and info.segment_count == 1
    assert info.static and info.packers == []


def test_packer_hints() -> None:
    packed, _ = elf_of(segments_only_elf64(random_bytes(32 * 1024)))
    assert packed.packers == ["unknown (no section headers, high entropy)"]
    upx, _ = elf_of(upx_like_elf(random_bytes(4096) + bytes(8192)))
    assert upx.packers == ["UPX"]
    # The magic far from where UPX writes it is just a string.
    plain, _ = elf_of(segments_only_elf64(bytes(16384) + b"UPX!" + bytes(16384)))
    assert plain.packers == []


@pytest.mark.timeout(60)
def test_declared_65535_sections_are_capped(programs: Programs) -> None:
    data = with_field(programs.dynamic.read_bytes(), E_SHNUM, "<H", 0xFFFF)
    info, errors = elf_of(data)
    assert info.section_count == 0xFFFF and len(info.sections) <= MAX_SECTIONS
    assert info.truncated
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"


@pytest.mark.timeout(60)
def test_declared_65534_segments_are_capped(programs: Programs) -> None:
    data = with_field(programs.dynamic.read_bytes(), E_PHNUM, "<H", 0xFFFE)
    info, _ = elf_of(data)
    assert info.segment_count == 0xFFFE and info.truncated


def test_section_table_outside_the_file_keeps_the_segments(programs: Programs) -> None:
    data = with_field(programs.dynamic.read_bytes(), E_SHOFF, "<Q", 1 << 40)
    info, errors = elf_of(data)
    assert info.sections == [] and any("section" in e for e in errors)
    assert info.needed == ["libc.so.6"]
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"


def test_not_elf_and_broken_header() -> None:
    errors: list[str] = []
    assert analyse_elf(b"MZ\x90\x00", errors) is None and errors == []
    assert analyse_elf(b"\x7fELF\x03\x01", errors) is None  # invalid class, cut short
    assert len(errors) == 1 and errors[0].startswith("ELF header unreadable")
