"""The canned bodies are structurally valid files of their kind."""

from __future__ import annotations

import struct
import zlib

from aasee.hooks.fakenet.content import ELF, GIF, JPEG, PNG, canned_for, extension


def test_elf_is_a_minimal_x86_64_executable() -> None:
    assert ELF[:4] == b"\x7fELF" and ELF[4] == 2 and ELF[5] == 1
    e_type, machine = struct.unpack_from("<HH", ELF, 16)
    entry, phoff = struct.unpack_from("<QQ", ELF, 24)
    assert (e_type, machine) == (2, 0x3E)
    p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from(
        "<IIQQQQQQ", ELF, phoff
    )
    assert p_type == 1 and offset == 0 and filesz == memsz == len(ELF)
    code = ELF[entry - vaddr :]
    assert code == b"\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05"  # exit(0)


def test_png_chunks_and_pixels() -> None:
    assert PNG.startswith(b"\x89PNG\r\n\x1a\n")
    offset, kinds = 8, []
    while offset < len(PNG):
        (length,) = struct.unpack_from(">I", PNG, offset)
        kind = PNG[offset + 4 : offset + 8]
        data = PNG[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", PNG, offset + 8 + length)
        assert crc == zlib.crc32(kind + data)
        if kind == b"IDAT":
            assert zlib.decompress(data) == b"\x00\xff"
        kinds.append(kind)
        offset += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_gif_and_jpeg_framing() -> None:
    assert GIF.startswith(b"GIF89a") and GIF.endswith(b"\x3b")
    assert struct.unpack_from("<HH", GIF, 6) == (1, 1)
    assert JPEG.startswith(b"\xff\xd8\xff\xdb") and JPEG.endswith(b"\xff\xd9")
    assert b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01" in JPEG  # SOF0, 8 bit, 1x1


def test_extension_ignores_query_and_case() -> None:
    assert extension("/a/b/Setup.EXE?x=1.txt#frag") == ".exe"
    assert extension("http://host/x.sh") == ".sh"
    assert extension("/dir.d/") == ""
    assert canned_for("/nothing") is None
