"""PE header analysis on PE files written here from the format specification."""

from __future__ import annotations

import hashlib

from aasee.processing.static.models import PeInfo
from aasee.processing.static.pe import analyse_pe

from .builders import (
    IMAGE_SCN_CNT_CODE,
    IMAGE_SCN_CNT_INITIALIZED_DATA,
    IMAGE_SCN_MEM_EXECUTE,
    IMAGE_SCN_MEM_READ,
    IMAGE_SCN_MEM_WRITE,
    PeSpec,
    build_pe,
    random_bytes,
)

CODE = IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ


def pe_of(data: bytes) -> PeInfo:
    errors: list[str] = []
    info = analyse_pe(data, errors)
    assert info is not None and errors == [], errors
    return info


def test_pe32_plus_executable() -> None:
    info = pe_of(build_pe())
    assert (info.machine, info.bits, info.dll) == ("x86_64", 64, False)
    assert info.subsystem == "windows_cui"
    assert info.timestamp == 1_700_000_000
    assert info.timestamp_utc == "2023-11-14T22:13:20Z"
    assert info.entry_point == 0x1000
    assert [(i.dll, i.functions) for i in info.imports] == [
        ("KERNEL32.dll", ["CreateProcessA", "VirtualAlloc"])
    ]
    # imphash: MD5 of "dll.function" pairs, lowercase, the .dll extension dropped.
    assert info.imphash == hashlib.md5(b"kernel32.createprocessa,kernel32.virtualalloc").hexdigest()
    text, idata = info.sections
    assert (text.name, text.virtual_address, text.virtual_size, text.raw_size) == (
        ".text",
        0x1000,
        64,
        0x200,
    )
    assert text.characteristics == ["CNT_CODE", "MEM_EXECUTE", "MEM_READ"]
    assert text.entropy is not None and text.entropy < 2
    assert idata.characteristics == ["CNT_INITIALIZED_DATA", "MEM_READ", "MEM_WRITE"]
    assert info.section_count == 2 and info.packers == [] and not info.truncated


def test_pe32_dll_with_several_imports() -> None:
    spec = PeSpec(
        bits=32,
        dll=True,
        subsystem=2,
        imports={"ws2_32.dll": ["connect", "send"], "ADVAPI32.dll": ["RegSetValueExA"]},
    )
    info = pe_of(build_pe(spec))
    assert (info.machine, info.bits, info.dll, info.subsystem) == ("i386", 32, True, "windows_gui")
    assert [i.dll for i in info.imports] == ["ws2_32.dll", "ADVAPI32.dll"]
    assert info.imports[1].functions == ["RegSetValueExA"]


def test_packer_hints() -> None:
    upx = PeSpec(
        sections=[
            (b"UPX0", bytes(16), IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE),
            (b"UPX1", random_bytes(4096), CODE | IMAGE_SCN_MEM_WRITE),
        ]
    )
    assert pe_of(build_pe(upx)).packers == ["UPX"]
    encrypted = PeSpec(sections=[(b".text", random_bytes(8192), CODE)], imports={})
    info = pe_of(build_pe(encrypted))
    assert info.packers == ["unknown (high-entropy executable section)"]
    assert info.imports == [] and info.imphash is None
    data = PeSpec(sections=[(b".rsrc", random_bytes(8192), IMAGE_SCN_CNT_INITIALIZED_DATA)])
    assert pe_of(build_pe(data)).packers == []  # compressed resources are not packing


def test_not_pe() -> None:
    errors: list[str] = []
    assert analyse_pe(b"\x7fELF" + bytes(60), errors) is None
    # "MZ" alone is common (DOS programs, data); without a PE signature it is no error.
    assert analyse_pe(b"MZ" + bytes(200), errors) is None and errors == []
    broken = build_pe()[:0x60]
    assert analyse_pe(broken, errors) is None
    assert len(errors) == 1 and errors[0].startswith("PE headers unreadable")


def test_section_list_is_capped() -> None:
    spec = PeSpec(sections=[(b".s%d" % i, b"\x90" * 16, CODE) for i in range(100)], imports={})
    info = pe_of(build_pe(spec))
    assert info.section_count == 100 and len(info.sections) == 96 and info.truncated
