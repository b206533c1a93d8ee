"""Decoding captured DNS messages (header, questions, answers), written for hostile input.

Every read is bounds-checked; a name may follow at most a few dozen compression pointers and
spell at most 255 wire bytes, so a pointer loop cannot make decoding spin. Names are shown in
the DNS presentation format (``\\.`` and ``\\DDD`` escapes) so that bytes a resolver would
never accept, the ones tunnelling malware puts in labels, stay visible and unambiguous.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

__all__ = ["DnsAnswerData", "DnsError", "DnsMessage", "parse_message", "rcode_name", "type_name"]

MAX_QUESTIONS = 16
MAX_ANSWERS = 64
MAX_DATA = 1024
_MAX_NAME = 255
_MAX_HOPS = 32
_HEADER = struct.Struct(">HHHHHH")
_RR = struct.Struct(">HHIH")

_TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX",
    16: "TXT", 17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV",
    35: "NAPTR", 36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS",
    44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID",
    50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 59: "CDS",
    60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS",
    99: "SPF", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
    253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA",
}  # fmt: skip
_RCODES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}  # fmt: skip
_NAME_TYPES = frozenset({2, 5, 12, 39})
# How each byte of a label is shown: printable ASCII as itself, the rest as \DDD.
_BYTE_TEXT = [chr(b) if 0x21 <= b < 0x7F else f"\\{b:03d}" for b in range(256)]
_BYTE_TEXT[ord(".")] = "\\."
_BYTE_TEXT[ord("\\")] = "\\\\"


class DnsError(ValueError):
    """The message is not well-formed DNS."""


@dataclass
class DnsAnswerData:
    name: str
    type: str
    ttl: int
    data: str


@dataclass
class DnsMessage:
    id: int
    response: bool
    rcode: str
    questions: list[tuple[str, str]] = field(default_factory=list)
    answers: list[DnsAnswerData] = field(default_factory=list)


def type_name(value: int) -> str:
    return _TYPES.get(value, f"TYPE{value}")


def rcode_name(value: int) -> str:
    return _RCODES.get(value, f"RCODE{value}")


def _label(raw: bytes) -> str:
    return "".join(_BYTE_TEXT[b] for b in raw)


def _name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` and the offset just past it (past the first pointer, if any)."""
    labels: list[str] = []
    size = 0
    hops = 0
    resume: int | None = None
    while True:
        if offset >= len(message):
            raise DnsError("name runs past the message")
        length = message[offset]
        if length == 0:
            offset += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if offset + 1 >= len(message):
                raise DnsError("compression pointer runs past the message")
            hops += 1
            if hops > _MAX_HOPS:
                raise DnsError("too many compression pointers (a loop?)")
            if resume is None:
                resume = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if kind:
            raise DnsError(f"unsupported label type {length:#04x}")
        end = offset + 1 + length
        if end > len(message):
            raise DnsError("label runs past the message")
        size += length + 1
        if size > _MAX_NAME:
            raise DnsError("name longer than 255 bytes")
        labels.append(_label(message[offset + 1 : end]))
        offset = end
    return (".".join(labels) or "."), (resume if resume is not None else offset)


def _strings(raw: bytes) -> str:
    parts = []
    position = 0
    while position < len(raw):
        length = raw[position]
        chunk = raw[position + 1 : position + 1 + length]
        position += 1 + length
        text = chunk.decode("utf-8", "backslashreplace").replace('"', '\\"')
        parts.append(f'"{text}"')
    return " ".join(parts)


def _rdata(message: bytes, rtype: int, start: int, end: int) -> str:
    raw = message[start:end]
    try:
        if rtype == 1 and len(raw) == 4:
            return str(ipaddress.IPv4Address(raw))
        if rtype == 28 and len(raw) == 16:
            return str(ipaddress.IPv6Address(raw))
        if rtype in _NAME_TYPES:
            return _name(message, start)[0]
        if rtype == 15 and len(raw) >= 3:
            return f"{(raw[0] << 8) | raw[1]} {_name(message, start + 2)[0]}"
        if rtype in (16, 99):
            return _strings(raw)
        if rtype == 33 and len(raw) >= 7:
            priority, weight, port = struct.unpack_from(">HHH", raw)
            return f"{priority} {weight} {port} {_name(message, start + 6)[0]}"
        if rtype == 6:
            mname, position = _name(message, start)
            rname, position = _name(message, position)
            if position + 20 <= end:
                numbers = struct.unpack_from(">IIIII", message, position)
                return " ".join([mname, rname, *map(str, numbers)])
    except DnsError:
        pass
    return raw.hex()


def parse_message(message: bytes) -> DnsMessage:
    """Decode one DNS message; raises :class:`DnsError` if it is not well-formed."""
    if len(message) < _HEADER.size:
        raise DnsError("shorter than a DNS header")
    ident, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(message)
    result = DnsMessage(id=ident, response=bool(flags & 0x8000), rcode=rcode_name(flags & 0x0F))
    offset = _HEADER.size
    for index in range(qdcount):
        name, offset = _name(message, offset)
        if offset + 4 > len(message):
            raise DnsError("question runs past the message")
        qtype = (message[offset] << 8) | message[offset + 1]
        offset += 4
        if index < MAX_QUESTIONS:
            result.questions.append((name, type_name(qtype)))
    for index in range(min(ancount, MAX_ANSWERS)):
        try:
            name, offset = _name(message, offset)
            if offset + _RR.size > len(message):
                raise DnsError("record runs past the message")
            rtype, _, ttl, length = _RR.unpack_from(message, offset)
            offset += _RR.size
            if offset + length > len(message):
                raise DnsError("record data runs past the message")
        except DnsError:
            # Answers that did not fit are lost, the question and the rcode are still known.
            if index == 0 and not result.questions:
                raise
            break
        data = _rdata(message, rtype, offset, offset + length)[:MAX_DATA]
        offset += length
        result.answers.append(DnsAnswerData(name=name, type=type_name(rtype), ttl=ttl, data=data))
    return result
