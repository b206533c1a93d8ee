"""ELF headers of a (possibly hostile) file: architecture, linking, sections, symbols, packers.

Owns :func:`analyse_elf`. pyelftools reads the file header and the section header records;
the program headers, the dynamic table, the symbols and every name are read here directly,
with bounds. pyelftools' own walks are unbounded on crafted input: it reads the whole section
table to build a dynamic segment, walks the dynamic table until a ``DT_NULL`` a crafted file
never has, and looks names up with a read that stops only at a NUL byte. Every list is capped
(a file may declare 65535 sections) and each part is read on its own, so a corrupt section
table still leaves the segments, interpreter and libraries; what failed is said in
``errors``.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from elftools.common.utils import struct_parse
from elftools.elf.elffile import ELFFile

from .entropy import shannon_entropy
from .models import ElfInfo, ElfSection

__all__ = ["MAX_IMPORTS", "MAX_SECTIONS", "MAX_SEGMENTS", "analyse_elf"]

MAX_SECTIONS = 256
MAX_SEGMENTS = 128
MAX_DYNAMIC = 2048
"""Dynamic table entries read."""
MAX_NEEDED = 64
MAX_SYMBOLS_SCANNED = 16384
MAX_IMPORTS = 512
_NAME_LIMIT = 256
_HIGH_ENTROPY = 7.2

_MACHINES = {
    "EM_X86_64": "x86_64",
    "EM_386": "i386",
    "EM_ARM": "arm",
    "EM_AARCH64": "aarch64",
    "EM_MIPS": "mips",
    "EM_MIPS_RS3_LE": "mips",
    "EM_PPC": "powerpc",
    "EM_PPC64": "powerpc64",
    "EM_SPARC": "sparc",
    "EM_SPARCV9": "sparc64",
    "EM_SH": "sh",
    "EM_68K": "m68k",
    "EM_RISCV": "riscv",
    "EM_S390": "s390",
    "EM_ARC": "arc",
    "EM_ARC_COMPACT": "arc",
    "EM_LOONGARCH": "loongarch",
}
_TYPES = {
    "ET_NONE": "none",
    "ET_REL": "relocatable",
    "ET_EXEC": "executable",
    "ET_DYN": "shared object",
    "ET_CORE": "core",
}
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_PN_XNUM = _SHN_XINDEX = 0xFFFF
_STT_FUNC = 2
_DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_FLAGS_1 = 1, 5, 10, 0x6FFFFFFB
_DF_1_PIE = 0x08000000
_UPX_SECTIONS = frozenset({"UPX0", "UPX1", "UPX2", ".upx"})

T = TypeVar("T")


@dataclass
class _Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int


@dataclass
class _State:
    data: bytes
    errors: list[str]
    truncated: bool = False
    segments: list[_Segment] = field(default_factory=list)


def _enum_name(value: object, table: dict[str, str], prefix: str) -> str:
    if isinstance(value, str):
        return table.get(value, value.removeprefix(prefix).lower())
    return f"unknown ({value})"


def _cstring(data: bytes, offset: int) -> str | None:
    if not 0 <= offset < len(data):
        return None
    raw = data[offset : offset + _NAME_LIMIT]
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "backslashreplace")


def _part(state: _State, what: str, read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception as exc:
        # A crafted header breaks the parser in many ways (struct errors, bad indexes,
        # recursion through self-linked sections); each costs only its own part.
        state.errors.append(f"ELF {what} unreadable: {type(exc).__name__}: {exc}")
        return default


def _segment_count(elf: ELFFile, state: _State) -> int:
    declared = int(elf.header["e_phnum"])
    if declared != _PN_XNUM:
        return declared
    # Extended numbering keeps the real count in section 0.
    return _part(state, "program header count", elf.num_segments, declared)


def _segments(elf: ELFFile, state: _State) -> int:
    count = _segment_count(elf, state)
    if count > MAX_SEGMENTS:
        state.truncated = True
    order = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz
        layout, fields = struct.Struct(order + "IIQQQQ"), (0, 2, 3, 5)
    else:
        # p_type, p_offset, p_vaddr, p_paddr, p_filesz
        layout, fields = struct.Struct(order + "IIIII"), (0, 1, 2, 4)
    table, entry_size = int(elf.header["e_phoff"]), int(elf.header["e_phentsize"])
    if entry_size < layout.size:
        raise ValueError(f"program header entries of {entry_size} bytes are too small")
    for index in range(min(count, MAX_SEGMENTS)):
        offset = table + index * entry_size
        raw = state.data[offset : offset + layout.size]
        if len(raw) < layout.size:
            state.errors.append(f"ELF program header {index} lies outside the file")
            break
        values = layout.unpack(raw)
        kind, file_offset, vaddr, filesz = (values[i] for i in fields)
        state.segments.append(_Segment(kind, file_offset, vaddr, filesz))
    return count


def _interpreter(state: _State) -> str | None:
    for segment in state.segments:
        if segment.type == _PT_INTERP:
            return _cstring(state.data, segment.offset)
    return None


def _file_offset(segments: list[_Segment], address: int) -> int | None:
    for segment in segments:
        if segment.type == _PT_LOAD and segment.vaddr <= address < segment.vaddr + segment.filesz:
            return segment.offset + address - segment.vaddr
    return None


def _dynamic(elf: ELFFile, state: _State) -> tuple[list[str], bool]:
    """DT_NEEDED names and whether DT_FLAGS_1 says PIE, from the PT_DYNAMIC segment."""
    segment = next((s for s in state.segments if s.type == _PT_DYNAMIC), None)
    if segment is None:
        return [], False
    word = "q" if elf.elfclass == 64 else "i"
    entry = struct.Struct(("<" if elf.little_endian else ">") + word + word.upper())
    table = state.data[segment.offset : segment.offset + min(segment.filesz, 1 << 20)]
    needed_offsets: list[int] = []
    strtab: int | None = None
    pie = False
    for index, (tag, value) in enumerate(
        entry.iter_unpack(table[: len(table) // entry.size * entry.size])
    ):
        if tag == 0 or index >= MAX_DYNAMIC:
            break
        if tag == _DT_NEEDED:
            needed_offsets.append(value)
        elif tag == _DT_STRTAB:
            strtab = value
        elif tag == _DT_FLAGS_1:
            pie = bool(value & _DF_1_PIE)
    if not needed_offsets:
        return [], pie
    base = _file_offset(state.segments, strtab) if strtab is not None else None
    if base is None:
        state.errors.append("ELF dynamic table lists libraries but its string table is not mapped")
        return [], pie
    if len(needed_offsets) > MAX_NEEDED:
        state.truncated = True
    needed = [_cstring(state.data, base + offset) for offset in needed_offsets[:MAX_NEEDED]]
    return [name for name in needed if name], pie


def _flags(value: int) -> str:
    return "".join(letter for bit, letter in ((1, "W"), (2, "A"), (4, "X")) if value & bit)


@dataclass
class _SectionHeader:
    index: int
    name: str
    type: str
    offset: int
    size: int
    link: int
    entsize: int
    flags: int


def _section_header(elf: ELFFile, index: int) -> Any:
    position = int(elf.header["e_shoff"]) + index * int(elf.header["e_shentsize"])
    return struct_parse(elf.structs.Elf_Shdr, elf.stream, stream_pos=position)


def _names_offset(elf: ELFFile, headers: dict[int, Any]) -> int | None:
    index = int(elf.header["e_shstrndx"])
    if index == _SHN_XINDEX:
        index = int(_section_header(elf, 0)["sh_link"])
    header = headers.get(index)
    if header is None and index >= MAX_SECTIONS:
        header = _section_header(elf, index)
    return int(header["sh_offset"]) if header is not None else None


def _section_headers(elf: ELFFile, state: _State, count: int) -> list[_SectionHeader]:
    """The first :data:`MAX_SECTIONS` section headers, named from the raw string table.

    pyelftools would look each name up with a read that only stops at a NUL byte: a crafted
    string table without one makes every lookup read to the end of the file.
    """
    if count > MAX_SECTIONS:
        state.truncated = True
    raw: dict[int, Any] = {}
    failures: list[str] = []
    for index in range(min(count, MAX_SECTIONS)):
        try:
            raw[index] = _section_header(elf, index)
        except Exception as exc:
            failures.append(f"{index}: {type(exc).__name__}: {exc}")
    if failures:
        state.errors.append(
            f"ELF: {len(failures)} section headers unreadable (first: section {failures[0]})"
        )
    names = _part(state, "section name table", lambda: _names_offset(elf, raw), None)
    headers = []
    for index, header in raw.items():
        name = _cstring(state.data, names + int(header["sh_name"])) if names is not None else None
        headers.append(
            _SectionHeader(
                index=index,
                name=name or "",
                type=str(header["sh_type"]),
                offset=int(header["sh_offset"]),
                size=int(header["sh_size"]),
                link=int(header["sh_link"]),
                entsize=int(header["sh_entsize"]),
                flags=int(header["sh_flags"]),
            )
        )
    return headers


def _listed(headers: list[_SectionHeader], data: bytes) -> list[ElfSection]:
    listed = []
    # Overlapping sections could make entropy cost many times the file; one file's worth.
    budget = len(data)
    for header in headers:
        entropy = None
        if header.type != "SHT_NOBITS" and 0 <= header.offset < len(data) and header.size > 0:
            chunk = data[header.offset : header.offset + min(header.size, budget)]
            budget -= len(chunk)
            entropy = shannon_entropy(chunk) if chunk else None
        listed.append(
            ElfSection(
                name=header.name,
                type=header.type.removeprefix("SHT_").lower(),
                offset=max(header.offset, 0),
                size=max(header.size, 0),
                flags=_flags(header.flags),
                entropy=entropy,
            )
        )
    return listed


def _symbol_tables(headers: list[_SectionHeader]) -> list[_SectionHeader]:
    return [h for h in headers if h.type in ("SHT_SYMTAB", "SHT_DYNSYM") and h.entsize > 0]


def _symbol_count(headers: list[_SectionHeader]) -> int:
    return sum(max(h.size // h.entsize, 0) for h in _symbol_tables(headers))


def _imports(elf: ELFFile, headers: list[_SectionHeader], state: _State) -> list[str]:
    """Undefined function symbols of the dynamic symbol table, read with struct (fast)."""
    by_index = {h.index: h for h in headers}
    order = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        layout, name_field, info_field, shndx_field = struct.Struct(order + "IBBH"), 0, 1, 3
    else:
        layout, name_field, info_field, shndx_field = struct.Struct(order + "IIIBBH"), 0, 3, 5
    names: set[str] = set()
    for table in _symbol_tables(headers):
        strings = by_index.get(table.link)
        if table.type != "SHT_DYNSYM" or strings is None or table.entsize < layout.size:
            continue
        count = table.size // table.entsize
        if count > MAX_SYMBOLS_SCANNED:
            state.truncated = True
        for index in range(min(count, MAX_SYMBOLS_SCANNED)):
            offset = table.offset + index * table.entsize
            raw = state.data[offset : offset + layout.size]
            if len(raw) < layout.size:
                break
            values = layout.unpack(raw)
            if values[shndx_field] == 0 and values[info_field] & 0xF == _STT_FUNC:
                name = _cstring(state.data, strings.offset + values[name_field])
                if name:
                    names.add(name)
    if len(names) > MAX_IMPORTS:
        state.truncated = True
    return sorted(names)[:MAX_IMPORTS]


def _packers(
    data: bytes, sections: list[ElfSection], section_count: int, entropy: float | None
) -> list[str]:
    found = []
    # UPX writes its magic into the loader info just after the program headers and again in
    # the trailer; looking only there keeps a file that merely mentions UPX from matching.
    if (
        b"UPX!" in data[:4096]
        or b"UPX!" in data[-4096:]
        or any(s.name in _UPX_SECTIONS for s in sections)
    ):
        found.append("UPX")
    elif section_count == 0 and entropy is not None and entropy >= _HIGH_ENTROPY:
        found.append("unknown (no section headers, high entropy)")
    return found


def analyse_elf(data: bytes, errors: list[str], entropy: float | None = None) -> ElfInfo | None:
    """ELF facts of ``data`` (the file's first bytes), or None if it is not a readable ELF.

    ``entropy`` is the whole input's entropy, used for packer hints; problems are appended to
    ``errors``.
    """
    if not data.startswith(b"\x7fELF"):
        return None
    try:
        elf = ELFFile(io.BytesIO(data))
        header: Any = elf.header
        machine = _enum_name(header["e_machine"], _MACHINES, "EM_")
        elf_type = _enum_name(header["e_type"], _TYPES, "ET_")
        os_abi = _enum_name(header["e_ident"]["EI_OSABI"], {}, "ELFOSABI_")
        entry_point = max(int(header["e_entry"]), 0)
        bits: Literal[32, 64] = 64 if elf.elfclass == 64 else 32
    except Exception as exc:
        errors.append(f"ELF header unreadable: {type(exc).__name__}: {exc}")
        return None
    state = _State(data=data, errors=errors)
    segment_count = _part(state, "program headers", lambda: _segments(elf, state), 0)
    interpreter = _part(state, "interpreter", lambda: _interpreter(state), None)
    no_dynamic: tuple[list[str], bool] = ([], False)
    needed, pie = _part(state, "dynamic table", lambda: _dynamic(elf, state), no_dynamic)
    section_count = _part(state, "section count", elf.num_sections, 0)
    no_headers: list[_SectionHeader] = []
    headers = _part(
        state, "section headers", lambda: _section_headers(elf, state, section_count), no_headers
    )
    no_sections: list[ElfSection] = []
    sections = _part(state, "sections", lambda: _listed(headers, data), no_sections)
    symbols = _part(state, "symbol tables", lambda: _symbol_count(headers), 0)
    no_imports: list[str] = []
    imports = _part(state, "dynamic symbols", lambda: _imports(elf, headers, state), no_imports)
    if header["e_type"] == "ET_DYN" and (interpreter is not None or pie):
        elf_type = "pie executable"
    return ElfInfo(
        machine=machine,
        bits=bits,
        endianness="little" if elf.little_endian else "big",
        elf_type=elf_type,
        os_abi=os_abi,
        entry_point=entry_point,
        static=interpreter is None and not needed,
        interpreter=interpreter,
        needed=needed,
        section_count=max(section_count, 0),
        segment_count=max(segment_count, 0),
        sections=sections,
        stripped=not any(h.type == "SHT_SYMTAB" for h in headers),
        symbols=symbols,
        imported_functions=imports,
        packers=_packers(data, sections, section_count, entropy),
        truncated=state.truncated,
    )
