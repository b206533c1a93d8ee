"""DNS wire format, written for hostile input: header, one question, and answer building.

Every read is bounds-checked; names are limited to 255 bytes and compression pointers must
strictly decrease, so a pointer loop or a forged count cannot make parsing loop or read
past the packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct(">HHHHHH")
MAX_NAME = 255
MAX_POINTER_HOPS = 64

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 255
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 48: "DNSKEY", 64: "SVCB",
    65: "HTTPS", 99: "SPF", 252: "AXFR", 255: "ANY", 257: "CAA",
}  # fmt: skip
IN = 1
CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}

# a name in our answers that points at the question name, always at offset 12
QNAME_POINTER = b"\xc0\x0c"


class DnsFormatError(ValueError):
    """The packet is not a DNS query we can parse."""


def type_name(qtype: int) -> str:
    return TYPE_NAMES.get(qtype, f"TYPE{qtype}")


def class_name(qclass: int) -> str:
    return CLASS_NAMES.get(qclass, f"CLASS{qclass}")


def presentation(labels: tuple[bytes, ...]) -> str:
    """A name as text, with dots, backslashes and unprintable bytes escaped as \\DDD."""
    if not labels:
        return "."
    parts = []
    for label in labels:
        chars = []
        for byte in label:
            if 0x21 <= byte <= 0x7E and byte not in (0x2E, 0x5C):
                chars.append(chr(byte))
            else:
                chars.append(f"\\{byte:03d}")
        parts.append("".join(chars))
    return ".".join(parts)


def labels_of(name: str) -> tuple[bytes, ...]:
    """Labels of a trusted ASCII name (configuration, never client input)."""
    return tuple(part.encode("ascii") for part in name.strip(".").split(".") if part)


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def wire_length(labels: tuple[bytes, ...]) -> int:
    return sum(len(label) + 1 for label in labels) + 1


def read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The name at ``offset`` and the offset just after it in the packet."""
    labels: list[bytes] = []
    length_so_far = 1
    position = offset
    floor = offset
    end: int | None = None
    hops = 0
    while True:
        if position >= len(data):
            raise DnsFormatError("name runs past the end of the packet")
        size = data[position]
        if size & 0xC0 == 0xC0:
            if position + 1 >= len(data):
                raise DnsFormatError("truncated compression pointer")
            target = ((size & 0x3F) << 8) | data[position + 1]
            # strictly decreasing targets make loops impossible
            hops += 1
            if target >= floor or target < HEADER.size or hops > MAX_POINTER_HOPS:
                raise DnsFormatError("bad compression pointer")
            if end is None:
                end = position + 2
            floor = position = target
            continue
        if size & 0xC0:
            raise DnsFormatError("reserved label type")
        if size == 0:
            return tuple(labels), end if end is not None else position + 1
        label = data[position + 1 : position + 1 + size]
        if len(label) < size:
            raise DnsFormatError("label runs past the end of the packet")
        length_so_far += size + 1
        if length_so_far > MAX_NAME:
            raise DnsFormatError("name longer than 255 bytes")
        labels.append(label)
        position += 1 + size


@dataclass(frozen=True)
class Header:
    id: int
    flags: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@dataclass(frozen=True)
class Question:
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int

    @property
    def name(self) -> str:
        return presentation(self.labels)


def parse_header(data: bytes) -> Header | None:
    if len(data) < HEADER.size:
        return None
    return Header(*HEADER.unpack_from(data))


def parse_question(data: bytes, header: Header) -> Question:
    """The single question of a standard query."""
    if header.qdcount != 1:
        raise DnsFormatError(f"{header.qdcount} questions")
    labels, offset = read_name(data, HEADER.size)
    if offset + 4 > len(data):
        raise DnsFormatError("truncated question")
    qtype, qclass = struct.unpack_from(">HH", data, offset)
    return Question(labels, qtype, qclass)


def response(
    header: Header,
    rcode: int,
    question: Question | None = None,
    answers: list[bytes] | None = None,
) -> bytes:
    """A reply to ``header``; ``answers`` are ready-made resource records."""
    records = answers or []
    flags = QR | (header.flags & 0x7800) | AA | (header.flags & RD) | RA | (rcode & 0xF)
    head = HEADER.pack(header.id, flags, 1 if question else 0, len(records), 0, 0)
    body = b""
    if question is not None:
        body = encode_name(question.labels) + struct.pack(">HH", question.qtype, question.qclass)
    return head + body + b"".join(records)


def record(rtype: int, ttl: int, rdata: bytes, owner: bytes = QNAME_POINTER) -> bytes:
    return owner + struct.pack(">HHIH", rtype, IN, ttl, len(rdata)) + rdata


def name_under_qname(prefix: bytes, question: Question) -> bytes:
    """``prefix.<qname>`` compressed against the question, or the qname if that is too long."""
    if wire_length(question.labels) + len(prefix) + 1 > MAX_NAME or not 0 < len(prefix) < 64:
        return QNAME_POINTER
    return bytes([len(prefix)]) + prefix + QNAME_POINTER


def character_string(text: bytes) -> bytes:
    return bytes([len(text[:255])]) + text[:255]


def truncate_for_udp(packet: bytes, limit: int = 512) -> bytes:
    """A reply too big for plain UDP loses its records and gets TC, so the client uses TCP."""
    if len(packet) <= limit:
        return packet
    head = HEADER.unpack_from(packet)
    return HEADER.pack(head[0], head[1] | TC, 0, 0, 0, 0)
