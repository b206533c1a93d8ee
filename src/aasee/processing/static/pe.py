"""Windows PE headers of a (possibly hostile) file: machine, imports, sections, packer hints.

Owns :func:`analyse_pe`, read through pefile with only the import directory parsed (the other
directories cost time and add nothing the report uses). Lists are capped; a file pefile
refuses yields None and an entry in ``errors``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pefile  # type: ignore[import-untyped]

from .entropy import shannon_entropy
from .models import PeImport, PeInfo, PeSection

__all__ = ["MAX_DLLS", "MAX_FUNCTIONS", "MAX_PE_SECTIONS", "analyse_pe"]

MAX_PE_SECTIONS = 96
"""The PE format's own limit; pefile accepts more from a crafted header."""
MAX_DLLS = 128
MAX_FUNCTIONS = 2048
"""Imported functions kept over all DLLs."""
_NAME_LIMIT = 256
_HIGH_ENTROPY = 7.2

_MACHINES = {
    "IMAGE_FILE_MACHINE_I386": "i386",
    "IMAGE_FILE_MACHINE_AMD64": "x86_64",
    "IMAGE_FILE_MACHINE_ARM": "arm",
    "IMAGE_FILE_MACHINE_ARMNT": "arm",
    "IMAGE_FILE_MACHINE_THUMB": "arm",
    "IMAGE_FILE_MACHINE_ARM64": "arm64",
    "IMAGE_FILE_MACHINE_IA64": "ia64",
}
_CHARACTERISTICS = (
    ("CNT_CODE", 0x20),
    ("CNT_INITIALIZED_DATA", 0x40),
    ("CNT_UNINITIALIZED_DATA", 0x80),
    ("MEM_DISCARDABLE", 0x02000000),
    ("MEM_SHARED", 0x10000000),
    ("MEM_EXECUTE", 0x20000000),
    ("MEM_READ", 0x40000000),
    ("MEM_WRITE", 0x80000000),
)
_PACKER_SECTIONS = {
    "upx0": "UPX",
    "upx1": "UPX",
    "upx2": "UPX",
    ".upx": "UPX",
    ".aspack": "ASPack",
    ".adata": "ASPack",
    ".mpress1": "MPRESS",
    ".mpress2": "MPRESS",
    ".petite": "Petite",
    ".nsp0": "NsPack",
    ".nsp1": "NsPack",
    ".themida": "Themida",
    ".winlice": "Themida",
    ".vmp0": "VMProtect",
    ".vmp1": "VMProtect",
    ".enigma1": "Enigma",
    "pec2": "PECompact",
    "pec2mo": "PECompact",
    ".kkrunchy": "kkrunchy",
    "fsg!": "FSG",
}
_IMPORT_DIRECTORY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]
_DLL_FLAG = 0x2000
_PE32_PLUS = 0x20B


def _text(raw: bytes | None) -> str:
    return (raw or b"").split(b"\0", 1)[0][:_NAME_LIMIT].decode("utf-8", "backslashreplace")


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sections(pe: Any, data: bytes) -> tuple[list[PeSection], bool]:
    sections = []
    budget = len(data)
    for section in pe.sections[:MAX_PE_SECTIONS]:
        offset, raw_size = int(section.PointerToRawData), int(section.SizeOfRawData)
        chunk = data[offset : offset + min(raw_size, budget)] if raw_size > 0 else b""
        budget -= len(chunk)
        flags = int(section.Characteristics)
        sections.append(
            PeSection(
                name=_text(section.Name),
                virtual_address=max(int(section.VirtualAddress), 0),
                virtual_size=max(int(section.Misc_VirtualSize), 0),
                raw_size=max(raw_size, 0),
                entropy=shannon_entropy(chunk) if chunk else None,
                characteristics=[name for name, bit in _CHARACTERISTICS if flags & bit],
            )
        )
    return sections, len(pe.sections) > MAX_PE_SECTIONS


def _imports(pe: Any) -> tuple[list[PeImport], bool]:
    imports = []
    kept = 0
    truncated = False
    entries = getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
    if len(entries) > MAX_DLLS:
        truncated = True
    for entry in entries[:MAX_DLLS]:
        functions = []
        for symbol in entry.imports:
            if kept >= MAX_FUNCTIONS:
                truncated = True
                break
            name = _text(symbol.name) if symbol.name else f"ord{symbol.ordinal}"
            functions.append(name)
            kept += 1
        imports.append(PeImport(dll=_text(entry.dll), functions=functions))
    return imports, truncated


def _packers(data: bytes, sections: list[PeSection]) -> list[str]:
    found: list[str] = []
    for section in sections:
        packer = _PACKER_SECTIONS.get(section.name.lower())
        if packer and packer not in found:
            found.append(packer)
    if "UPX" not in found and b"UPX!" in data[:4096]:
        found.append("UPX")
    if not found and any(
        "MEM_EXECUTE" in s.characteristics and (s.entropy or 0) >= _HIGH_ENTROPY for s in sections
    ):
        found.append("unknown (high-entropy executable section)")
    return found


def analyse_pe(data: bytes, errors: list[str]) -> PeInfo | None:
    """PE facts of ``data`` (the file's first bytes), or None if it is not a readable PE."""
    if not data.startswith(b"MZ"):
        return None
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as exc:
        # MZ alone is common (DOS stubs, random data); only a PE signature makes it an error.
        if b"PE\0\0" in data[:4096]:
            errors.append(f"PE headers unreadable: {exc}")
        return None
    try:
        pe.parse_data_directories(directories=[_IMPORT_DIRECTORY])
    except Exception as exc:
        errors.append(f"PE import directory unreadable: {type(exc).__name__}: {exc}")
    header, optional = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    machine_name = pefile.MACHINE_TYPE.get(int(header.Machine))
    machine = (
        _MACHINES.get(machine_name, machine_name.removeprefix("IMAGE_FILE_MACHINE_").lower())
        if machine_name
        else f"unknown (0x{int(header.Machine):x})"
    )
    subsystem = None
    if optional is not None:
        name = pefile.SUBSYSTEM_TYPE.get(int(optional.Subsystem))
        subsystem = name.removeprefix("IMAGE_SUBSYSTEM_").lower() if name else None
    sections, sections_cut = _sections(pe, data)
    try:
        imports, imports_cut = _imports(pe)
        imphash = pe.get_imphash() or None
    except Exception as exc:
        errors.append(f"PE imports unreadable: {type(exc).__name__}: {exc}")
        imports, imports_cut, imphash = [], False, None
    timestamp = int(header.TimeDateStamp)
    return PeInfo(
        machine=machine,
        bits=64 if optional is not None and int(optional.Magic) == _PE32_PLUS else 32,
        dll=bool(int(header.Characteristics) & _DLL_FLAG),
        subsystem=subsystem,
        timestamp=timestamp,
        timestamp_utc=_utc(timestamp),
        entry_point=max(int(optional.AddressOfEntryPoint), 0) if optional is not None else 0,
        imphash=imphash,
        section_count=int(header.NumberOfSections),
        imports=imports,
        sections=sections,
        packers=_packers(data, sections),
        truncated=sections_cut or imports_cut,
    )
