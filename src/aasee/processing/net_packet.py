"""Reading pcap records and decoding link, IP and transport headers, for hostile captures.

The capture is of the guest's NIC, so every frame may be forged. Framing and header decoding
are done here with bounds-checked ``struct`` reads instead of dpkt's decoders: those follow
encapsulations (ISL, MPLS, IP-in-IP, GRE) recursively, copying the frame at each level, which
a guest can turn into tens of milliseconds per frame; and dpkt's pcap reader allocates
whatever captured length a corrupt record header claims.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import BinaryIO, Final, NamedTuple

__all__ = [
    "MALFORMED",
    "NON_IP",
    "Packet",
    "PcapFormatError",
    "PcapRecords",
    "decode_frame",
]

NON_IP: Final = "non_ip"
MALFORMED: Final = "malformed"

TCP: Final = 6
UDP: Final = 17
ICMP: Final = 1
ICMPV6: Final = 58

_CHUNK = 1 << 20
_HEADER = 24
_RECORD = 16
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG = b"\x0a\x0d\x0d\x0a"

LINK_ETHERNET: Final = 1
LINK_RAW = frozenset({12, 14, 101})
LINK_IPV4: Final = 228
LINK_IPV6: Final = 229
LINK_SLL: Final = 113
SUPPORTED_LINKS = frozenset({LINK_ETHERNET, LINK_IPV4, LINK_IPV6, LINK_SLL} | LINK_RAW)

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
# IPv6 extension headers that are skipped to reach the transport header.
_IPV6_SKIP = frozenset({0, 43, 60, 135, 139, 140})
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_MAX_EXTENSIONS = 8

_U32 = struct.Struct(">I")
_TCP_HEAD = struct.Struct(">HHI4xBB")
_UDP_HEAD = struct.Struct(">HHH")
_NO_MAC = b""


class PcapFormatError(ValueError):
    """The file does not start with a classic pcap header this reader supports."""


class Packet(NamedTuple):
    """One decoded IP packet; ``sport``/``dport`` are ``None`` without a transport header."""

    src_mac: bytes
    family: int
    src: bytes
    dst: bytes
    proto: int
    sport: int | None
    dport: int | None
    flags: int
    seq: int
    payload: bytes
    # (src, dst, proto, id) of a fragmented datagram; ``first`` tells the one with ports.
    fragment: tuple[bytes, bytes, int, int] | None
    first: bool


class PcapRecords:
    """Iterates ``(epoch, wire length, frame)`` over a classic pcap stream, never raising on
    content: a cut or corrupt tail ends the iteration and sets :attr:`truncated` and
    :attr:`error`. ``skip`` switches to counting records without returning their frames.
    Past ``deadline`` (a :func:`time.monotonic` value) the iteration stops and sets
    :attr:`timed_out`.
    """

    def __init__(self, handle: BinaryIO, max_record: int, deadline: float | None = None) -> None:
        self._handle = handle
        self.max_record = max_record
        self.deadline = deadline
        self.truncated = False
        self.timed_out = False
        self.error: str | None = None
        self.skip = False
        self.skipped = 0
        self.count = 0
        self._buf = b""
        self._pos = 0
        head = self._read_exactly(_HEADER)
        if len(head) < 4:
            raise PcapFormatError("the capture is empty: no pcap header")
        magic = head[:4]
        if magic == _PCAPNG:
            raise PcapFormatError("pcapng captures are not supported, only classic pcap")
        if magic not in _MAGICS:
            raise PcapFormatError(f"not a pcap capture (magic {magic.hex()})")
        if len(head) < _HEADER:
            raise PcapFormatError("the pcap header is cut short")
        order, self.scale = _MAGICS[magic]
        snaplen, network = struct.unpack_from(order + "II", head, 16)
        self.snaplen: int = snaplen
        # The upper bits of the link-type field may carry FCS information.
        self.linktype: int = network & 0x0FFFFFFF
        self._record = struct.Struct(order + "IIII")

    def _read_exactly(self, size: int) -> bytes:
        data = self._handle.read(size)
        return data if isinstance(data, bytes) else b""

    def _fill(self, need: int) -> bool:
        """Whether ``need`` bytes are buffered at the read position (reading more if needed)."""
        while len(self._buf) - self._pos < need:
            chunk = self._handle.read(max(_CHUNK, need))
            if not chunk:
                return False
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        record = self._record
        scale = self.scale
        limit = self.max_record
        deadline = self.deadline
        while True:
            if deadline is not None and not self.count & 0xFFF and time.monotonic() > deadline:
                self.timed_out = True
                return
            if not self._fill(_RECORD):
                if len(self._buf) > self._pos:
                    self._cut("a record header")
                return
            sec, frac, caplen, origlen = record.unpack_from(self._buf, self._pos)
            if caplen > limit:
                self.truncated = True
                self.error = (
                    f"record {self.count + 1} claims {caplen} captured bytes: the capture is "
                    "corrupt from there on and the rest was not read"
                )
                return
            if not self._fill(_RECORD + caplen):
                self._cut("a packet")
                return
            start = self._pos + _RECORD
            self._pos = start + caplen
            self.count += 1
            if self.skip:
                self.skipped += 1
                continue
            yield sec + frac * scale, max(origlen, caplen), self._buf[start : self._pos]

    def _cut(self, what: str) -> None:
        self.truncated = True
        self.error = f"the capture ends in the middle of {what} after {self.count} records"


def decode_frame(frame: bytes, linktype: int) -> Packet | str:
    """The IP packet in one frame, or :data:`NON_IP` / :data:`MALFORMED`."""
    mac = _NO_MAC
    if linktype == LINK_ETHERNET:
        if len(frame) < 14:
            return MALFORMED
        mac = frame[6:12]
        ethertype = (frame[12] << 8) | frame[13]
        offset = 14
        tags = 0
        while ethertype in _ETH_VLAN and tags < 2:
            if len(frame) < offset + 4:
                return MALFORMED
            ethertype = (frame[offset + 2] << 8) | frame[offset + 3]
            offset += 4
            tags += 1
        if ethertype == _ETH_IPV4:
            return _ipv4(frame, offset, mac)
        if ethertype == _ETH_IPV6:
            return _ipv6(frame, offset, mac)
        return NON_IP
    if linktype == LINK_SLL:
        if len(frame) < 16:
            return MALFORMED
        ethertype = (frame[14] << 8) | frame[15]
        if ethertype == _ETH_IPV4:
            return _ipv4(frame, 16, mac)
        if ethertype == _ETH_IPV6:
            return _ipv6(frame, 16, mac)
        return NON_IP
    if not frame:
        return MALFORMED
    version = frame[0] >> 4
    if version == 4 and linktype != LINK_IPV6:
        return _ipv4(frame, 0, mac)
    if version == 6 and linktype != LINK_IPV4:
        return _ipv6(frame, 0, mac)
    return MALFORMED


def _ipv4(frame: bytes, offset: int, mac: bytes) -> Packet | str:
    if len(frame) < offset + 20:
        return MALFORMED
    first = frame[offset]
    header = (first & 0x0F) * 4
    if first >> 4 != 4 or header < 20:
        return MALFORMED
    total = (frame[offset + 2] << 8) | frame[offset + 3]
    available = len(frame) - offset
    if total == 0:
        # Segmentation offload can leave the length unset: the frame holds the packet.
        total = available
    if total < header or available < header:
        return MALFORMED
    end = offset + min(total, available)
    ident = (frame[offset + 4] << 8) | frame[offset + 5]
    frag = (frame[offset + 6] << 8) | frame[offset + 7]
    proto = frame[offset + 9]
    src = frame[offset + 12 : offset + 16]
    dst = frame[offset + 16 : offset + 20]
    more = bool(frag & 0x2000)
    frag_offset = frag & 0x1FFF
    fragment = (src, dst, proto, ident) if more or frag_offset else None
    if frag_offset:
        rest = frame[offset + header : end]
        return Packet(mac, 4, src, dst, proto, None, None, 0, 0, rest, fragment, False)
    return _transport(frame, offset + header, end, mac, 4, src, dst, proto, fragment)


def _ipv6(frame: bytes, offset: int, mac: bytes) -> Packet | str:
    if len(frame) < offset + 40:
        return MALFORMED
    if frame[offset] >> 4 != 6:
        return MALFORMED
    length = (frame[offset + 4] << 8) | frame[offset + 5]
    proto = frame[offset + 6]
    src = frame[offset + 8 : offset + 24]
    dst = frame[offset + 24 : offset + 40]
    position = offset + 40
    end = len(frame) if length == 0 else min(len(frame), position + length)
    fragment = None
    for _ in range(_MAX_EXTENSIONS):
        if proto in _IPV6_SKIP or proto == _IPV6_AH:
            if end < position + 8:
                return MALFORMED
            units = frame[position + 1]
            size = (units + 2) * 4 if proto == _IPV6_AH else (units + 1) * 8
            proto = frame[position]
            position += size
        elif proto == _IPV6_FRAGMENT:
            if end < position + 8:
                return MALFORMED
            proto = frame[position]
            frag = (frame[position + 2] << 8) | frame[position + 3]
            ident = _U32.unpack_from(frame, position + 4)[0]
            position += 8
            fragment = (src, dst, proto, ident)
            if frag & 0xFFF8:
                rest = frame[position:end]
                return Packet(mac, 6, src, dst, proto, None, None, 0, 0, rest, fragment, False)
        else:
            break
    else:
        return MALFORMED
    if position > end:
        return MALFORMED
    return _transport(frame, position, end, mac, 6, src, dst, proto, fragment)


def _transport(
    frame: bytes,
    start: int,
    end: int,
    mac: bytes,
    family: int,
    src: bytes,
    dst: bytes,
    proto: int,
    fragment: tuple[bytes, bytes, int, int] | None,
) -> Packet | str:
    first = fragment is not None
    if proto == TCP:
        if end - start < 20:
            return MALFORMED
        sport, dport, seq, offset_byte, flags = _TCP_HEAD.unpack_from(frame, start)
        header = (offset_byte >> 4) * 4
        if header < 20 or start + header > end:
            return MALFORMED
        data = frame[start + header : end]
        return Packet(mac, family, src, dst, proto, sport, dport, flags, seq, data, fragment, first)
    if proto == UDP:
        if end - start < 8:
            return MALFORMED
        sport, dport, length = _UDP_HEAD.unpack_from(frame, start)
        stop = end if length < 8 else min(end, start + length)
        payload = frame[start + 8 : stop]
        return Packet(mac, family, src, dst, proto, sport, dport, 0, 0, payload, fragment, first)
    payload = frame[start:end]
    return Packet(mac, family, src, dst, proto, None, None, 0, 0, payload, fragment, first)
