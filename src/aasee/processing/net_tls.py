"""Decoding a TLS ClientHello from the start of a client stream: SNI, versions, ALPN, JA3.

Parsed by hand with a bounds-checked reader: the hello may span several records and any
length in it may lie. The JA3 string follows the published definition (legacy version,
cipher suites, extensions, groups, point formats; GREASE values left out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["ClientHello", "parse_client_hello", "version_name"]

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_MAX_HELLO = 1 << 16
_MAX_LIST = 64
_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2"}
_VERSIONS[0x0304] = "TLS 1.3"


class _Short(Exception):
    pass


@dataclass
class ClientHello:
    sni: str | None
    version: str
    client_version: str
    supported_versions: list[str] = field(default_factory=list)
    alpn: list[str] = field(default_factory=list)
    ja3: str = ""
    ja3_md5: str = ""


def version_name(value: int) -> str:
    if value in _VERSIONS:
        return _VERSIONS[value]
    if value >> 8 == 0x7F:
        return f"TLS 1.3 draft {value & 0xFF}"
    return f"0x{value:04x}"


def _grease(value: int) -> bool:
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class _Reader:
    __slots__ = ("data", "position", "end")

    def __init__(self, data: bytes, position: int = 0, end: int | None = None) -> None:
        self.data = data
        self.position = position
        self.end = len(data) if end is None else min(end, len(data))

    def take(self, size: int) -> bytes:
        if self.position + size > self.end:
            raise _Short
        chunk = self.data[self.position : self.position + size]
        self.position += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vector(self, width: int) -> _Reader:
        size = int.from_bytes(self.take(width), "big")
        start = self.position
        self.take(size)
        return _Reader(self.data, start, start + size)

    def rest(self) -> bytes:
        return self.take(self.end - self.position)

    def more(self) -> bool:
        return self.position < self.end

    def u16_list(self) -> list[int]:
        return [self.u16() for _ in range((self.end - self.position) // 2)]


def _handshake(stream: bytes) -> bytes | None:
    """The first handshake message, joined from the fragments of consecutive records."""
    joined = bytearray()
    position = 0
    while position + 5 <= len(stream) and len(joined) < _MAX_HELLO:
        kind, major = stream[position], stream[position + 1]
        length = (stream[position + 3] << 8) | stream[position + 4]
        if kind != _HANDSHAKE or major != 3 or length == 0:
            break
        joined += stream[position + 5 : position + 5 + length]
        position += 5 + length
        if len(joined) >= 4 and len(joined) >= 4 + int.from_bytes(joined[1:4], "big"):
            break
    if len(joined) < 4 or joined[0] != _CLIENT_HELLO:
        return None
    return bytes(joined)


def _server_name(extension: _Reader) -> str | None:
    names = extension.vector(2)
    while names.more():
        kind = names.u8()
        name = names.vector(2)
        if kind == 0:
            return name.rest().decode("utf-8", "backslashreplace")
    return None


def parse_client_hello(stream: bytes) -> ClientHello | None:
    """The ClientHello a client stream starts with, or ``None`` if it does not start with one.

    A hello cut short (by the capture or the stream limit) yields what was read before the cut.
    """
    if len(stream) < 6 or stream[0] != _HANDSHAKE or stream[1] != 3:
        return None
    message = _handshake(stream)
    if message is None:
        return None
    body = _Reader(message, 4, 4 + int.from_bytes(message[1:4], "big"))
    try:
        legacy = body.u16()
    except _Short:
        return None
    hello = ClientHello(sni=None, version=version_name(legacy), client_version=version_name(legacy))
    ciphers: list[int] = []
    extensions: list[int] = []
    groups: list[int] = []
    formats: list[int] = []
    offered: list[int] = []
    try:
        body.take(32)
        body.vector(1)
        ciphers = [c for c in body.vector(2).u16_list() if not _grease(c)]
        body.vector(1)
        if body.more():
            listing = body.vector(2)
            while listing.more():
                kind = listing.u16()
                extension = listing.vector(2)
                if not _grease(kind):
                    extensions.append(kind)
                if kind == 0 and hello.sni is None:
                    hello.sni = _server_name(extension)
                elif kind == 10:
                    groups = [g for g in extension.vector(2).u16_list() if not _grease(g)]
                elif kind == 11:
                    formats = list(extension.vector(1).rest())
                elif kind == 16:
                    names = extension.vector(2)
                    while names.more() and len(hello.alpn) < _MAX_LIST:
                        raw = names.vector(1).rest()
                        hello.alpn.append(raw.decode("utf-8", "backslashreplace"))
                elif kind == 43:
                    versions = extension.vector(1)
                    offered = [v for v in versions.u16_list() if not _grease(v)][:_MAX_LIST]
    except _Short:
        pass
    if offered:
        hello.supported_versions = [version_name(v) for v in offered]
        hello.version = version_name(max(offered))
    fields = [str(legacy)] + [
        "-".join(map(str, values)) for values in (ciphers, extensions, groups, formats)
    ]
    hello.ja3 = ",".join(fields)
    hello.ja3_md5 = hashlib.md5(hello.ja3.encode(), usedforsecurity=False).hexdigest()
    return hello
