"""Decoding of the socket addresses the probes capture as raw integers.

The probes read a ``struct sockaddr`` as ``fam`` (u16 at offset 0), ``port`` (u16 at 2),
``addr`` (u32 at 4), ``a6hi`` and ``a6lo`` (u64 at 8 and 16). Multi-byte values were read in
the guest's byte order from memory holding network byte order, so their bytes are laid back
out in the guest's order to recover the wire order: swapped on a little-endian guest,
unchanged on a big-endian one (MIPS). Values are masked to their width first: a forged line
may carry any integer.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

__all__ = [
    "ByteOrder",
    "Endpoint",
    "decode_inet",
    "decode_unix",
    "ipv4_from_wire",
    "port_from_wire",
]

Endpoint = tuple[Literal["ipv4", "ipv6"], str, int]
ByteOrder = Literal["little", "big"]

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
# sockaddr_un.sun_path bytes the probe's fields cover: offsets 2 to 24.
UNIX_PATH_CAPTURED = 22


def port_from_wire(value: int, byteorder: ByteOrder = "little") -> int:
    return int.from_bytes((value & _U16).to_bytes(2, byteorder), "big")


def ipv4_from_wire(value: int, byteorder: ByteOrder = "little") -> str:
    return str(ipaddress.IPv4Address((value & _U32).to_bytes(4, byteorder)))


def decode_inet(
    family: int | None,
    port: int,
    addr: int,
    a6hi: int,
    a6lo: int,
    byteorder: ByteOrder = "little",
) -> Endpoint | None:
    """(family, ip, port) for AF_INET (2) and AF_INET6 (10); ``None`` for anything else."""
    if family == 2:
        return "ipv4", ipv4_from_wire(addr, byteorder), port_from_wire(port, byteorder)
    if family == 10:
        # sockaddr_in6: family, port, flowinfo (4 bytes), then the 16-byte address at 8.
        raw = (a6hi & _U64).to_bytes(8, byteorder) + (a6lo & _U64).to_bytes(8, byteorder)
        return "ipv6", str(ipaddress.IPv6Address(raw)), port_from_wire(port, byteorder)
    return None


def decode_unix(
    port: int,
    addr: int,
    a6hi: int,
    a6lo: int,
    length: int | None,
    byteorder: ByteOrder = "little",
) -> tuple[str, bool]:
    """The first bytes of a Unix socket path and whether the path went on beyond them.

    Abstract-namespace names (leading NUL) are shown with a leading ``@`` as ``ss`` does.
    """
    raw = (
        (port & _U16).to_bytes(2, byteorder)
        + (addr & _U32).to_bytes(4, byteorder)
        + (a6hi & _U64).to_bytes(8, byteorder)
        + (a6lo & _U64).to_bytes(8, byteorder)
    )
    prefix = ""
    if raw[:1] == b"\0":
        prefix, raw = "@", raw[1:]
        captured = UNIX_PATH_CAPTURED - 1
        # Abstract names are not NUL-terminated: the address length says where they end.
        total = None if length is None else length - 3
        name = raw if total is None else raw[: max(total, 0)]
        truncated = total is None or total > captured
    else:
        end = raw.find(b"\0")
        name = raw if end < 0 else raw[:end]
        truncated = end < 0 and (length is None or length - 2 > UNIX_PATH_CAPTURED)
    return prefix + name.decode("utf-8", "backslashreplace"), truncated
