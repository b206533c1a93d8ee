"""Canned bodies by file extension: small, harmless, and valid enough to pass a sniff test.

A dropper that fetches ``payload.elf`` or ``logo.png`` gets something of the right kind, so
it carries on to its next step instead of bailing out on an HTML page.
"""

from __future__ import annotations

import posixpath
import struct
import zlib
from urllib.parse import unquote, urlsplit


def _elf_exit0() -> bytes:
    """A complete static x86-64 ELF executable whose only instruction is exit(0)."""
    base = 0x400000
    code = b"\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05"  # mov eax,60; xor edi,edi; syscall
    header_size, phdr_size = 64, 56
    total = header_size + phdr_size + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, SysV
    header = struct.pack(
        "<16sHHIQQQIHHHHHH",
        ident,
        2,  # ET_EXEC
        0x3E,  # x86-64
        1,
        base + header_size + phdr_size,  # entry: the code right after the program header
        header_size,  # program headers follow the ELF header
        0,
        0,
        header_size,
        phdr_size,
        1,
        64,
        0,
        0,
    )
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)  # PT_LOAD, R+X
    return header + load + code


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xff")  # filter byte 0, one white pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _gif_1x1() -> bytes:
    screen = struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)  # global colour table of two entries
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    # LZW, minimum code size 2, codes (3 bits each, LSB first): clear=4, pixel 0, end=5
    data = b"\x02" + b"\x02\x44\x01" + b"\x00"
    return b"GIF89a" + screen + palette + image + data + b"\x3b"


def _jpeg_1x1() -> bytes:
    """A baseline greyscale 1x1 JPEG: one block whose DC and AC parts are both empty."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload

    quant = segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00")
    # one-code Huffman tables: DC category 0 and AC end-of-block, each coded as bit "0"
    dc_table = segment(0xC4, b"\x00" + b"\x01" + bytes(15) + b"\x00")
    ac_table = segment(0xC4, b"\x10" + b"\x01" + bytes(15) + b"\x00")
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    entropy = b"\x3f"  # bits 0 (DC) 0 (EOB), padded with ones
    return b"\xff\xd8" + quant + frame + dc_table + ac_table + scan + entropy + b"\xff\xd9"


ELF = _elf_exit0()
PNG = _png_1x1()
GIF = _gif_1x1()
JPEG = _jpeg_1x1()
SHELL = b"#!/bin/sh\nexit 0\n"

CANNED: dict[str, tuple[str, bytes]] = {
    ".exe": ("application/x-msdownload", ELF),
    ".bin": ("application/octet-stream", ELF),
    ".elf": ("application/octet-stream", ELF),
    ".so": ("application/octet-stream", ELF),
    ".out": ("application/octet-stream", ELF),
    ".sh": ("text/x-shellscript", SHELL),
    ".png": ("image/png", PNG),
    ".jpg": ("image/jpeg", JPEG),
    ".jpeg": ("image/jpeg", JPEG),
    ".gif": ("image/gif", GIF),
    ".ico": ("image/png", PNG),
    ".js": ("application/javascript", b"(function () {})();\n"),
    ".css": ("text/css", b"body { margin: 0; }\n"),
    ".json": ("application/json", b"{}\n"),
    ".txt": ("text/plain; charset=UTF-8", b"OK\n"),
    ".xml": ("application/xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<root/>\n'),
}


def extension(target: str) -> str:
    """The lower-cased extension of a request target's path (query and fragment ignored)."""
    try:
        path = urlsplit(target).path
    except ValueError:
        path = target.split("?", 1)[0]
    return posixpath.splitext(unquote(path))[1].lower()


def canned_for(target: str) -> tuple[str, bytes] | None:
    """(content type, body) for a target whose extension has a canned body."""
    return CANNED.get(extension(target))


def fake_file(name: str) -> bytes:
    """Content for a downloaded file of this name (FTP RETR): canned, else a small text."""
    canned = CANNED.get(posixpath.splitext(name)[1].lower())
    return canned[1] if canned else b"This is a test file.\n"
