"""The capture's payload decoders on their own: DNS, TLS ClientHello, HTTP, TCP reassembly."""

from __future__ import annotations

import hashlib
import socket
import struct
from pathlib import Path

import pytest

from aasee.processing.net_dns import DnsError, parse_message
from aasee.processing.net_http import parse_requests, parse_statuses
from aasee.processing.net_stream import SEGMENT_OVERHEAD, Budget, HalfStream
from aasee.processing.net_tls import parse_client_hello, version_name
from aasee.processing.pcap import analyse_pcap

from .test_pcap import ACK, GUEST, PSH, PcapBuilder, client_hello

HEADER = struct.Struct(">HHHHHH")


def rr(name: bytes, rtype: int, rdata: bytes, ttl: int = 60) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


class TestDns:
    def test_answer_types(self) -> None:
        question = b"\x03www\x07example\x00" + b"\x00\x01\x00\x01"
        ptr = b"\xc0\x0c"
        answers = [
            rr(ptr, 5, b"\x03cdn\xc0\x10"),
            rr(ptr, 28, socket.inet_pton(socket.AF_INET6, "2001:db8::7")),
            rr(ptr, 15, b"\x00\x0a\x04mail\xc0\x10"),
            rr(ptr, 16, b'\x05hello\x04a"b\xff'),
            rr(ptr, 33, struct.pack(">HHH", 1, 2, 443) + b"\x03srv\xc0\x10"),
            rr(ptr, 6, b"\x02ns\xc0\x10\x05admin\xc0\x10" + struct.pack(">IIIII", 1, 2, 3, 4, 5)),
            rr(ptr, 99, b""),
            rr(ptr, 4242, b"\x01\x02"),
            rr(ptr, 1, b"\x01\x02\x03"),
        ]
        message = HEADER.pack(5, 0x8183, 1, len(answers), 0, 0) + question + b"".join(answers)
        parsed = parse_message(message)
        assert (parsed.id, parsed.response, parsed.rcode) == (5, True, "NXDOMAIN")
        assert parsed.questions == [("www.example", "A")]
        assert [(a.type, a.data) for a in parsed.answers] == [
            ("CNAME", "cdn.example"),
            ("AAAA", "2001:db8::7"),
            ("MX", "10 mail.example"),
            ("TXT", '"hello" "a\\"b\\xff"'),
            ("SRV", "1 2 443 srv.example"),
            ("SOA", "ns.example admin.example 1 2 3 4 5"),
            ("SPF", ""),
            ("TYPE4242", "0102"),
            ("A", "010203"),
        ]
        assert parsed.answers[0].name == "www.example"

    def test_odd_label_bytes_are_escaped(self) -> None:
        name = b"\x05a.b\\\x00\x03\xff \x00\x00"
        message = HEADER.pack(1, 0x0100, 1, 0, 0, 0) + name + b"\x00\x10\x00\x01"
        assert parse_message(message).questions == [("a\\.b\\\\\\000.\\255\\032\\000", "TXT")]

    def test_root_name_and_unknown_rcode(self) -> None:
        message = HEADER.pack(1, 0x800C, 1, 0, 0, 0) + b"\x00\x00\xff\x00\x01"
        parsed = parse_message(message)
        assert parsed.questions == [(".", "ANY")] and parsed.rcode == "RCODE12"

    @pytest.mark.parametrize(
        "body",
        [
            b"\xc0\x0c\x00\x01\x00\x01",  # points at itself
            b"\x01a\xc0\x0e\x00\x01\x00\x01",  # two names pointing at each other
            b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63,
            b"\x80abc",  # reserved label type
            b"\x05ab",  # label past the end
            b"\x01a\x00\x00",  # question cut short
            b"\xc0",  # half a pointer
        ],
    )
    def test_malformed_names(self, body: bytes) -> None:
        with pytest.raises(DnsError):
            parse_message(HEADER.pack(1, 0, 1, 0, 0, 0) + body)

    def test_cut_answers_keep_the_question(self) -> None:
        question = b"\x01a\x00\x00\x01\x00\x01"
        message = HEADER.pack(1, 0x8180, 1, 2, 0, 0) + question + rr(b"\xc0\x0c", 1, bytes(4))
        parsed = parse_message(message + b"\xc0\x0c\x00")
        assert len(parsed.answers) == 1 and parsed.questions == [("a", "A")]
        with pytest.raises(DnsError):
            parse_message(HEADER.pack(1, 0x8180, 0, 1, 0, 0) + b"\xc0")
        with pytest.raises(DnsError):
            parse_message(b"\x00\x01")


class TestTls:
    def test_hello_split_over_records_and_segments(self, tmp_path: Path) -> None:
        record = client_hello("split.example")
        handshake = record[5:]
        first, second = handshake[:30], handshake[30:]
        stream = b"\x16\x03\x01" + struct.pack(">H", len(first)) + first
        stream += b"\x16\x03\x01" + struct.pack(">H", len(second)) + second
        cap = PcapBuilder()
        cap.handshake(GUEST, 40000, "192.0.2.1", 8443, isn=0)
        cap.tcp(GUEST, 40000, "192.0.2.1", 8443, ACK, seq=1 + 50, data=stream[50:])
        cap.tcp(GUEST, 40000, "192.0.2.1", 8443, ACK, seq=1, data=stream[:50])
        (hello,) = analyse_pcap(cap.write(tmp_path / "t.pcap")).tls
        assert hello.sni == "split.example" and hello.dst_port == 8443

    def test_cut_hello_keeps_what_was_read(self) -> None:
        record = client_hello()
        hello = parse_client_hello(record[:60])
        assert hello is not None
        assert hello.sni is None and hello.version == "TLS 1.2"
        assert hello.ja3.startswith("771,")

    def test_not_a_hello(self) -> None:
        assert parse_client_hello(b"GET / HTTP/1.1\r\n\r\n") is None
        assert parse_client_hello(b"\x16\x03\x01\x00\x04\x02\x00\x00\x00") is None
        assert parse_client_hello(b"\x16\x03\x01\x00\x00") is None
        assert parse_client_hello(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03") is None

    def test_version_names(self) -> None:
        assert [version_name(v) for v in (0x0300, 0x0301, 0x0304, 0x7F17, 0x0A0A)] == [
            "SSL 3.0",
            "TLS 1.0",
            "TLS 1.3",
            "TLS 1.3 draft 23",
            "0x0a0a",
        ]


class TestHttp:
    def test_chunked_body_and_next_request(self) -> None:
        stream = (
            b"PUT /f HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
            b"4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nX-Trailer: 1\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        put, get = parse_requests(stream)
        assert (put.body_size, put.body_truncated) == (6, False)
        assert put.body_sha256 == hashlib.sha256(b"abcdef").hexdigest()
        assert (get.method, get.target, get.offset) == ("GET", "/next", stream.index(b"GET"))

    def test_incomplete_requests(self) -> None:
        (cut,) = parse_requests(b"GET /x HTTP/1.1\r\nHost: partial\r\nUser-Ag")
        assert cut.body_truncated and cut.host == "partial" and cut.user_agent is None
        (body,) = parse_requests(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        assert (body.body_size, body.body_truncated) == (3, True)
        assert parse_requests(b"\x16\x03\x01") == []
        assert parse_requests(b"get / HTTP/1.1\r\n\r\n") == []
        (odd,) = parse_requests(b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\nGARBAGE")
        assert odd.body_size == 0

    def test_statuses(self) -> None:
        assert parse_statuses(b"HTTP/1.1 301\r\n\r\nHTTP/1.0 500 Oops\r\n\r\n", ["GET"]) == [301]
        assert parse_statuses(b"HTTP/1.1 200 OK\r\n\r\nbody to the end", ["GET", "GET"]) == [200]
        assert parse_statuses(b"HTTP/1.1 204 No\r\n\r\nHTTP/1.1 302 X\r\n", ["GET"] * 2) == [
            204,
            302,
        ]
        assert parse_statuses(b"SSH-2.0-OpenSSH\r\n", ["GET"]) == []

    def test_absolute_and_connect_targets(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        cap.handshake(GUEST, 40000, "192.0.2.1", 3128, isn=0)
        requests = (
            b"GET http://proxied.example/a?b HTTP/1.1\r\nHost: proxied.example\r\n\r\n"
            b"CONNECT tunnel.example:443 HTTP/1.1\r\n\r\n"
        )
        cap.tcp(GUEST, 40000, "192.0.2.1", 3128, PSH | ACK, seq=1, data=requests)
        absolute, connect = analyse_pcap(cap.write(tmp_path / "p.pcap")).http
        assert (absolute.path, absolute.url) == ("/a?b", "http://proxied.example/a?b")
        assert (connect.path, connect.url) == ("tunnel.example:443", "tunnel.example:443")


class TestStream:
    def test_order_overlap_and_times(self) -> None:
        budget = Budget(1 << 20)
        half = HalfStream(100)
        half.syn(999)
        half.add(1006, b"ghij", 3.0, budget)
        half.add(1000, b"abc", 1.0, budget)
        half.add(1002, b"XdeY", 2.0, budget)
        half.add(1000, b"ab", 4.0, budget)
        half.add(1000, b"abc", 5.0, budget)
        assembled = half.assemble()
        assert assembled.data == b"abcdeYghij"
        assert [assembled.time_at(i) for i in (0, 2, 3, 6, 9)] == [1.0, 1.0, 2.0, 3.0, 3.0]
        assert len(half.segments) == 4

    def test_gap_stops_assembly_and_limit_clips(self) -> None:
        budget = Budget(1 << 20)
        half = HalfStream(8)
        half.syn(0)
        half.add(1, b"abc", 1.0, budget)
        half.add(6, b"xyz", 1.0, budget)
        assert half.assemble().data == b"abc"
        half.add(4, b"defghijkl", 1.0, budget)
        # Bytes already captured are not rewritten by a later overlapping segment.
        assert half.assemble().data == b"abcdexyz"
        half.add(0, b"BEFORE", 1.0, budget)
        assert half.assemble().data == b"abcdexyz"

    def test_sequence_wrap_and_no_syn(self) -> None:
        budget = Budget(1 << 20)
        half = HalfStream(100)
        half.syn(0xFFFFFFFE)
        half.add(0xFFFFFFFF, b"ab", 1.0, budget)
        half.add(1, b"cd", 1.0, budget)
        assert half.assemble().data == b"abcd"
        late = HalfStream(100)
        late.add(5000, b"world", 1.0, budget)
        late.add(4994, b"hello ", 1.0, budget)
        assert late.assemble().data == b"hello world"

    def test_budget(self) -> None:
        budget = Budget(2 * SEGMENT_OVERHEAD + 10)
        half = HalfStream(1000)
        half.syn(0)
        half.add(1, b"12345", 1.0, budget)
        half.add(6, b"67890", 1.0, budget)
        half.add(11, b"x", 1.0, budget)
        assert half.assemble().data == b"1234567890"
        assert (budget.remaining, budget.refused) == (0, 1)
