"""The fake DNS server over real UDP and TCP sockets, with valid and hostile packets."""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

import dpkt
import pytest

from aasee.hooks.fakenet import FakeInternet
from aasee.hooks.fakenet import dnswire as w
from aasee.hooks.fakenet.dnsd import DnsService
from aasee.hooks.fakenet.eventlog import EventLog, Stats
from aasee.hooks.fakenet.runtime import Runtime

from .helpers import DNS_ADDRESS, SINKHOLE, SINKHOLE6, event, make_config, wait_record

pytestmark = pytest.mark.timeout(30)


def query(name: str, qtype: int, ident: int = 0x1234) -> bytes:
    message = dpkt.dns.DNS(id=ident, qd=[dpkt.dns.DNS.Q(name=name, type=qtype)])
    return bytes(message)


def ask_udp(
    fakenet: FakeInternet, packet: bytes, timeout: float = 2.0
) -> tuple[bytes, tuple[str, int]] | None:
    port = fakenet.ports["dns"][0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (DNS_ADDRESS, port))
        try:
            data, source = sock.recvfrom(65535)
        except TimeoutError:
            return None
        return data, source


def answer(fakenet: FakeInternet, name: str, qtype: int) -> dpkt.dns.DNS:
    reply = ask_udp(fakenet, query(name, qtype))
    assert reply is not None
    return dpkt.dns.DNS(reply[0])


def test_a_query_answered_from_the_queried_address(fakenet: FakeInternet, log_path: Path) -> None:
    reply = ask_udp(fakenet, query("evil.example.com", dpkt.dns.DNS_A, ident=4242))
    assert reply is not None
    data, source = reply
    # the guest drops replies that come from another address than it asked
    assert source == (DNS_ADDRESS, fakenet.ports["dns"][0])
    message = dpkt.dns.DNS(data)
    assert message.id == 4242
    assert message.qr == dpkt.dns.DNS_R
    assert message.rcode == dpkt.dns.DNS_RCODE_NOERR
    assert [rr.type for rr in message.an] == [dpkt.dns.DNS_A]
    assert socket.inet_ntoa(message.an[0].ip) == SINKHOLE
    assert message.an[0].name == "evil.example.com"
    record = wait_record(log_path, event("dns", "query", qname="evil.example.com"))
    assert record["qtype"] == "A"
    assert record["answers"] == [SINKHOLE]
    assert record["transport"] == "udp"
    assert record["client_ip"] == "127.0.0.1" or record["client_ip"].startswith("127.")
    assert isinstance(record["client_port"], int)


def test_aaaa_mx_ptr_and_friends(fakenet: FakeInternet) -> None:
    message = answer(fakenet, "v6.example.org", dpkt.dns.DNS_AAAA)
    assert socket.inet_ntop(socket.AF_INET6, message.an[0].ip6) == SINKHOLE6

    message = answer(fakenet, "example.org", dpkt.dns.DNS_MX)
    assert message.an[0].mxname == "mail.example.org"
    assert message.an[0].rdata[:2] == b"\x00\x0a"  # preference 10

    message = answer(fakenet, "4.3.2.1.in-addr.arpa", dpkt.dns.DNS_PTR)
    assert message.an[0].ptrname == "host-1-2-3-4.dyn.example.net"

    message = answer(fakenet, "example.org", dpkt.dns.DNS_NS)
    assert message.an[0].nsname == "ns1.example.org"

    message = answer(fakenet, "example.org", dpkt.dns.DNS_TXT)
    assert message.an[0].text == ["v=spf1 -all"]

    message = answer(fakenet, "cdn.example.org", dpkt.dns.DNS_CNAME)
    assert message.an[0].cname == "www.cdn.example.org"

    message = answer(fakenet, "example.org", dpkt.dns.DNS_SOA)
    assert message.an[0].mname == "ns1.example.org"
    assert message.an[0].rname == "hostmaster.example.org"

    message = answer(fakenet, "any.example.org", dpkt.dns.DNS_ANY)
    assert [rr.type for rr in message.an] == [dpkt.dns.DNS_A]

    message = answer(fakenet, "srv.example.org", dpkt.dns.DNS_SRV)
    assert message.rcode == dpkt.dns.DNS_RCODE_NOERR and not message.an


def test_dns_over_tcp_serves_several_queries(fakenet: FakeInternet, log_path: Path) -> None:
    port = fakenet.ports["dns"][0]
    with socket.create_connection((DNS_ADDRESS, port), timeout=5) as sock:
        for ident, name in ((1, "one.example"), (2, "two.example")):
            packet = query(name, dpkt.dns.DNS_A, ident)
            sock.sendall(struct.pack(">H", len(packet)) + packet)
            size = struct.unpack(">H", sock.recv(2))[0]
            data = b""
            while len(data) < size:
                data += sock.recv(size - len(data))
            message = dpkt.dns.DNS(data)
            assert message.id == ident
            assert socket.inet_ntoa(message.an[0].ip) == SINKHOLE
    record = wait_record(log_path, event("dns", "query", qname="two.example"))
    assert record["transport"] == "tcp"


def _rcode(reply: tuple[bytes, tuple[str, int]] | None) -> int:
    assert reply is not None
    flags: int = struct.unpack(">H", reply[0][2:4])[0]
    return flags & 0xF


def test_hostile_packets_do_not_hurt(fakenet: FakeInternet, log_path: Path) -> None:
    header = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    # shorter than a header: nothing to answer
    assert ask_udp(fakenet, b"\x12\x34\x01", timeout=0.3) is None
    # a header announcing a question that is not there
    assert _rcode(ask_udp(fakenet, header)) == w.FORMERR
    # a question name that is a pointer to itself
    assert _rcode(ask_udp(fakenet, header + b"\xc0\x0c\x00\x01\x00\x01")) == w.FORMERR
    # two labels pointing at each other
    loop = b"\x01a\xc0\x0e" + b"\x00\x01\x00\x01"
    assert _rcode(ask_udp(fakenet, header + loop)) == w.FORMERR
    # forged counts
    huge = struct.pack(">HHHHHH", 8, 0x0100, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    assert _rcode(ask_udp(fakenet, huge + b"\x00\x00\x01\x00\x01")) == w.FORMERR
    # a label that runs past the end
    assert _rcode(ask_udp(fakenet, header + b"\x3fabc")) == w.FORMERR
    # a response must never be answered (reflection loops)
    assert ask_udp(fakenet, struct.pack(">HHHHHH", 9, 0x8180, 0, 0, 0, 0), timeout=0.3) is None
    # an unsupported opcode
    assert _rcode(ask_udp(fakenet, struct.pack(">HHHHHH", 10, 0x2800, 0, 0, 0, 0))) == w.NOTIMP

    generator = random.Random(1234)
    port = fakenet.ports["dns"][0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(300):
            size = generator.randrange(0, 600)
            sock.sendto(generator.randbytes(size), (DNS_ADDRESS, port))

    # the flood overflows the socket buffer, so like any resolver the client retries
    for _ in range(5):
        reply = ask_udp(fakenet, query("still.alive.example", dpkt.dns.DNS_A), timeout=1.0)
        if reply is not None:
            break
    assert reply is not None
    assert socket.inet_ntoa(dpkt.dns.DNS(reply[0]).an[0].ip) == SINKHOLE
    wait_record(log_path, event("dns", "malformed", reason="bad compression pointer"))
    assert fakenet.stats()["dns"]["errors"] == 0


def test_tcp_garbage_closes_the_connection_only(fakenet: FakeInternet) -> None:
    port = fakenet.ports["dns"][0]
    with socket.create_connection((DNS_ADDRESS, port), timeout=5) as sock:
        sock.sendall(b"\x00\x05\xff\xff\xff\xff\xff" + b"\x00\x03abc")
        assert sock.recv(100) == b""
    assert answer(fakenet, "after.tcp.example", dpkt.dns.DNS_A).an


def _service(tmp_path: Path, **overrides: object) -> DnsService:
    config = make_config(tmp_path, **overrides)
    stats = Stats()
    log = EventLog(tmp_path / "dns.jsonl", stats, 1 << 20, 1 << 20)
    log.open()
    return DnsService(Runtime(config, log, stats))


def test_aaaa_is_empty_without_an_ipv6_sinkhole(tmp_path: Path) -> None:
    service = _service(tmp_path, sinkhole_ipv6=None)
    reply = service.answer(query("x.example", dpkt.dns.DNS_AAAA), "udp", {})
    assert reply is not None
    message = dpkt.dns.DNS(reply)
    assert message.rcode == dpkt.dns.DNS_RCODE_NOERR and not message.an


def test_long_names_stay_within_limits(tmp_path: Path) -> None:
    service = _service(tmp_path)
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, the longest legal name
    for qtype in (dpkt.dns.DNS_MX, dpkt.dns.DNS_SOA, dpkt.dns.DNS_NS, dpkt.dns.DNS_CNAME):
        reply = service.answer(query(name, qtype), "udp", {})
        assert reply is not None and len(reply) <= 512
        message = dpkt.dns.DNS(reply)
        assert message.an, qtype
    too_long = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    packet = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + too_long + b"\x00\x01\x00\x01"
    reply = service.answer(packet, "udp", {})
    assert reply is not None and reply[3] & 0xF == w.FORMERR


def test_read_name_follows_backward_pointers_only() -> None:
    packet = bytes(12) + b"\x07example\x03com\x00" + b"\x03www\xc0\x0c"
    labels, end = w.read_name(packet, 12 + 13)
    assert labels == (b"www", b"example", b"com")
    assert end == len(packet)
    forward = bytes(12) + b"\xc0\x10\x00\x00" + b"\x01a\x00"
    with pytest.raises(w.DnsFormatError):
        w.read_name(forward, 12)


def test_presentation_escapes_odd_bytes() -> None:
    assert w.presentation((b"a.b", b"\x00\xff", b"ok")) == "a\\046b.\\000\\255.ok"
    assert w.presentation(()) == "."
