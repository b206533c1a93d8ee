"""The fake DNS server: every name exists and resolves to the sinkhole (UDP and TCP).

A/ANY answer the sinkhole IPv4, AAAA the sinkhole IPv6 or nothing, and MX/NS/CNAME/SOA
point at made-up names under the queried one, so a client's next lookup succeeds too.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from typing import Any

from aasee.hooks.fakenet import dnswire as w
from aasee.hooks.fakenet.conn import Conn
from aasee.hooks.fakenet.runtime import Runtime


def ptr_target(question: w.Question, ptr_domain: str) -> tuple[bytes, ...]:
    """``host-a-b-c-d.<ptr_domain>`` for a reverse IPv4 name, a generic host otherwise."""
    lowered = tuple(label.lower() for label in question.labels)
    domain = w.labels_of(ptr_domain)
    if lowered[-2:] == (b"in-addr", b"arpa") and len(lowered) == 6:
        octets = [label.decode("ascii", "replace") for label in reversed(lowered[:4])]
        if all(part.isdigit() and int(part) < 256 for part in octets):
            return (("host-" + "-".join(octets)).encode(),) + domain
    if lowered[-2:] == (b"ip6", b"arpa") and len(lowered) == 34:
        nibbles = b"".join(reversed(lowered[:32]))
        if all(len(label) == 1 for label in lowered[:32]) and nibbles.isalnum():
            return (b"host-" + nibbles[-12:],) + domain
    return (b"host",) + domain


class DnsService:
    """Answers and records queries; the transports call ``answer`` with raw packets."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        config = runtime.config
        self.ttl = config.dns_ttl
        self.a = config.a_answer.packed
        self.aaaa = config.sinkhole_ipv6.packed if config.sinkhole_ipv6 else None
        self.txt = config.dns_txt.encode("utf-8")
        self.ptr_domain = config.ptr_domain
        runtime.stats.ensure("dns")

    def _answers(self, question: w.Question) -> tuple[list[bytes], list[str]]:
        qtype, ttl = question.qtype, self.ttl
        if question.qclass not in (w.IN, 255):
            return [], []
        if qtype in (w.A, w.ANY):
            return [w.record(w.A, ttl, self.a)], [str(ipaddress.IPv4Address(self.a))]
        if qtype == w.AAAA:
            if self.aaaa is None:
                return [], []
            return [w.record(w.AAAA, ttl, self.aaaa)], [str(ipaddress.IPv6Address(self.aaaa))]
        name = question.name.rstrip(".")

        def under(prefix: str) -> tuple[bytes, str]:
            wire = w.name_under_qname(prefix.encode(), question)
            text = name if wire == w.QNAME_POINTER else f"{prefix}.{name}".rstrip(".")
            return wire, text

        if qtype == w.MX:
            wire, text = under("mail")
            return [w.record(w.MX, ttl, struct.pack(">H", 10) + wire)], [f"10 {text}"]
        if qtype == w.NS:
            wire, text = under("ns1")
            return [w.record(w.NS, ttl, wire)], [text]
        if qtype == w.CNAME:
            wire, text = under("www")
            return [w.record(w.CNAME, ttl, wire)], [text]
        if qtype == w.TXT:
            return [w.record(w.TXT, ttl, w.character_string(self.txt))], [self.txt.decode()]
        if qtype == w.PTR:
            target = ptr_target(question, self.ptr_domain)
            return [w.record(w.PTR, ttl, w.encode_name(target))], [w.presentation(target)]
        if qtype == w.SOA:
            mname, mtext = under("ns1")
            rname, rtext = under("hostmaster")
            serial = int(time.strftime("%Y%m%d01", time.gmtime()))
            numbers = struct.pack(">IIIII", serial, 7200, 3600, 1209600, self.ttl)
            rdata = mname + rname + numbers
            return [w.record(w.SOA, ttl, rdata)], [f"{mtext} {rtext} {serial}"]
        return [], []

    def answer(self, data: bytes, transport: str, peer: dict[str, Any]) -> bytes | None:
        """The reply to one packet (None to stay silent), recording what was asked."""
        log = self.runtime.log
        base = {"transport": transport, **peer, "size": len(data)}
        header = w.parse_header(data)
        if header is None or header.is_response:
            # nothing to answer to, and answering responses could start a reflection loop
            reason = "short packet" if header is None else "response packet"
            log.record(
                "dns", "malformed", {**base, "reason": reason}, {"data_hex": data[:64].hex()}
            )
            return None
        if header.opcode != 0:
            log.record("dns", "malformed", {**base, "id": header.id, "reason": "opcode"})
            return w.response(header, w.NOTIMP)
        try:
            question = w.parse_question(data, header)
        except w.DnsFormatError as exc:
            log.record(
                "dns",
                "malformed",
                {**base, "id": header.id, "reason": str(exc)},
                {"data_hex": data[:64].hex()},
            )
            return w.response(header, w.FORMERR)
        records, texts = self._answers(question)
        log.record(
            "dns",
            "query",
            {
                **base,
                "id": header.id,
                "qname": question.name,
                "qtype": w.type_name(question.qtype),
                "qclass": w.class_name(question.qclass),
                "rcode": "NOERROR",
                "answers": texts,
            },
        )
        return w.response(header, w.NOERROR, question, records)

    def datagram(
        self,
        data: bytes,
        peer: tuple[str, int],
        local: tuple[str, int],
        _original: tuple[str, int] | None,
    ) -> bytes | None:
        fields = {
            "client_ip": peer[0],
            "client_port": peer[1],
            "server_ip": local[0],
            "server_port": local[1],
        }
        reply = self.answer(data, "udp", fields)
        return None if reply is None else w.truncate_for_udp(reply)

    async def stream(self, conn: Conn) -> None:
        """DNS over TCP: two-byte length prefixed messages, several per connection."""
        for _ in range(conn.limits.max_requests_per_connection):
            prefix = await conn.readexactly(2)
            if prefix is None:
                return
            size = int.from_bytes(prefix, "big")
            if size == 0:
                return
            data = await conn.readexactly(size)
            if data is None:
                return
            reply = self.answer(data, "tcp", conn.info.fields())
            if reply is None:
                return
            await conn.write(len(reply).to_bytes(2, "big") + reply)
