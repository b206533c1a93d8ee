"""Captured traffic: pcaps built with dpkt, decoded by processing.pcap, joined into the report."""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import dpkt
import pytest

from aasee.processing.models import AnalysisMeta, Report, Sample
from aasee.processing.pcap import PcapLimits, PcapNetwork, analyse_pcap
from aasee.processing.report import build_report, report_dict, validate_report

from .tracegen import started, wire_ipv4, wire_port
from .work import grows_linearly, lines_run

GUEST = "10.0.2.15"
GUEST6 = "fec0::5054:ff:fe12:3456"
DNS_SERVER = "10.0.2.3"
GUEST_MAC = bytes.fromhex("525400123456")
GATEWAY_MAC = bytes.fromhex("52550a000202")
T0 = 1_700_000_000.0
SAMPLE = Sample(name="s", size=1, md5="", sha1="", sha256="")
HTTP_HEAD = (
    b"POST /gate.php?id=7 HTTP/1.1\r\n"
    b"Host: c2.example:8080\r\n"
    b"User-Agent: EvilBot/6.6 (x86_64)\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Length: 11\r\n"
    b"\r\n"
)
HTTP_BODY = b"hello world"
HTTP_REQUEST = HTTP_HEAD + HTTP_BODY
HTTP_RESPONSE = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
SYN, ACK, RST, FIN, PSH = (
    dpkt.tcp.TH_SYN,
    dpkt.tcp.TH_ACK,
    dpkt.tcp.TH_RST,
    dpkt.tcp.TH_FIN,
    dpkt.tcp.TH_PUSH,
)


def _grease_list(values: list[int]) -> bytes:
    return b"".join(struct.pack(">H", v) for v in values)


def _vector(width: int, data: bytes) -> bytes:
    return len(data).to_bytes(width, "big") + data


def client_hello(sni: str = "evil.example") -> bytes:
    """A TLS 1.3-style ClientHello record, with GREASE values to be left out of JA3."""
    name = sni.encode()
    extensions = [
        (0x2A2A, b""),
        (0, _vector(2, b"\x00" + _vector(2, name))),
        (43, _vector(1, _grease_list([0x3A3A, 0x0304, 0x0303]))),
        (10, _vector(2, _grease_list([0x4A4A, 29, 23]))),
        (11, _vector(1, b"\x00")),
        (16, _vector(2, _vector(1, b"h2") + _vector(1, b"http/1.1"))),
    ]
    body = (
        b"\x03\x03"
        + bytes(32)
        + _vector(1, bytes(32))
        + _vector(2, _grease_list([0x1A1A, 0x1301, 0xC02F]))
        + _vector(1, b"\x00")
        + _vector(2, b"".join(struct.pack(">H", k) + _vector(2, v) for k, v in extensions))
    )
    handshake = b"\x01" + _vector(3, body)
    return b"\x16\x03\x01" + _vector(2, handshake)


JA3 = "771,4865-49199,0-43-10-11-16,29-23,0"


class PcapBuilder:
    """Frames of the guest's NIC, each timestamped 10 ms after the previous one."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.ts = T0

    def raw(self, frame: bytes) -> PcapBuilder:
        self.ts += 0.01
        self.frames.append((self.ts, frame))
        return self

    def ip(self, src: str, dst: str, proto: int, transport: Any) -> PcapBuilder:
        mac = GUEST_MAC if src in (GUEST, GUEST6) else GATEWAY_MAC
        packet: Any
        if ":" in src:
            packet = dpkt.ip6.IP6(
                src=socket.inet_pton(socket.AF_INET6, src),
                dst=socket.inet_pton(socket.AF_INET6, dst),
                nxt=proto,
                hlim=64,
                data=transport,
                plen=len(bytes(transport)),
            )
            kind = dpkt.ethernet.ETH_TYPE_IP6
        else:
            packet = dpkt.ip.IP(
                src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=transport
            )
            kind = dpkt.ethernet.ETH_TYPE_IP
        ether = dpkt.ethernet.Ethernet(src=mac, dst=b"\xff" * 6, type=kind, data=packet)
        return self.raw(bytes(ether))

    def tcp(
        self,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        flags: int,
        seq: int = 0,
        ack: int = 0,
        data: bytes = b"",
    ) -> PcapBuilder:
        segment = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, data=data)
        return self.ip(src, dst, dpkt.ip.IP_PROTO_TCP, segment)

    def udp(self, src: str, sport: int, dst: str, dport: int, data: bytes) -> PcapBuilder:
        datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
        datagram.ulen = len(bytes(datagram))
        return self.ip(src, dst, dpkt.ip.IP_PROTO_UDP, datagram)

    def handshake(self, client: str, cport: int, server: str, sport: int, isn: int) -> None:
        self.tcp(client, cport, server, sport, SYN, seq=isn)
        self.tcp(server, sport, client, cport, SYN | ACK, seq=5000, ack=isn + 1)
        self.tcp(client, cport, server, sport, ACK, seq=isn + 1, ack=5001)

    def bytes(self) -> bytes:
        path_free = _Buffer()
        writer = dpkt.pcap.Writer(path_free)
        for ts, frame in self.frames:
            writer.writepkt(frame, ts)
        return path_free.data

    def write(self, path: Path) -> Path:
        path.write_bytes(self.bytes())
        return path


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def flush(self) -> None:
        pass


def dns_query(ident: int, name: str, qtype: int = dpkt.dns.DNS_A) -> bytes:
    query = dpkt.dns.DNS(id=ident, qd=[dpkt.dns.DNS.Q(name=name, type=qtype)])
    return bytes(query)


def dns_answer(ident: int, name: str, address: str) -> bytes:
    response = dpkt.dns.DNS(
        id=ident,
        op=dpkt.dns.DNS_RA,
        qr=dpkt.dns.DNS_R,
        rcode=dpkt.dns.DNS_RCODE_NOERR,
        qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)],
        an=[
            dpkt.dns.DNS.RR(
                name=name, type=dpkt.dns.DNS_A, ttl=300, rdata=socket.inet_aton(address)
            )
        ],
    )
    return bytes(response)


def scenario() -> PcapBuilder:
    """DNS, an HTTP POST split and reordered, a TLS hello, a refused SYN, UDP, IPv6."""
    cap = PcapBuilder()
    cap.raw(bytes(dpkt.ethernet.Ethernet(src=GUEST_MAC, type=dpkt.ethernet.ETH_TYPE_ARP)))
    cap.udp(GUEST, 40001, DNS_SERVER, 53, dns_query(0x1234, "c2.example"))
    cap.udp(DNS_SERVER, 53, GUEST, 40001, dns_answer(0x1234, "c2.example", "10.0.2.2"))
    # HTTP: the second half of the request arrives before the first.
    cap.handshake(GUEST, 40002, "93.184.216.34", 8080, isn=1000)
    first, second = HTTP_REQUEST[:40], HTTP_REQUEST[40:]
    cap.tcp(GUEST, 40002, "93.184.216.34", 8080, PSH | ACK, seq=1001 + 40, data=second)
    cap.tcp(GUEST, 40002, "93.184.216.34", 8080, PSH | ACK, seq=1001, data=first)
    cap.tcp("93.184.216.34", 8080, GUEST, 40002, PSH | ACK, seq=5001, data=HTTP_RESPONSE)
    cap.tcp(GUEST, 40002, "93.184.216.34", 8080, FIN | ACK, seq=1001 + len(HTTP_REQUEST))
    cap.tcp("93.184.216.34", 8080, GUEST, 40002, FIN | ACK, seq=5001 + len(HTTP_RESPONSE))
    # TLS to a raw address on 443.
    cap.handshake(GUEST, 40003, "198.18.0.1", 443, isn=7000)
    cap.tcp(GUEST, 40003, "198.18.0.1", 443, PSH | ACK, seq=7001, data=client_hello())
    # A SYN to a high port, answered by a reset.
    cap.tcp(GUEST, 40004, "203.0.113.7", 31337, SYN, seq=9000)
    cap.tcp("203.0.113.7", 31337, GUEST, 40004, RST | ACK, ack=9001)
    # One UDP datagram elsewhere, and an IPv6 SYN.
    cap.udp(GUEST, 40005, "198.51.100.9", 9999, b"ping")
    cap.tcp(GUEST6, 40006, "2001:db8::1", 443, SYN, seq=1)
    return cap


def scenario_trace(path: Path) -> Path:
    """What the tracer saw: the root (10) resolves and posts, its child (11) does the rest."""
    trace = started(10)
    trace.add(
        10,
        "udpsend",
        f"daddr=0 dport=0 fam=2 port={wire_port(53)} "
        f"addr={wire_ipv4(DNS_SERVER)} a6hi=0x0 a6lo=0x0 size=28",
    )
    trace.add(
        10,
        "connect",
        f"fam=2 port={wire_port(8080)} addr={wire_ipv4('93.184.216.34')} a6hi=0x0 a6lo=0x0 len=16",
    )
    trace.add(10, "connect_r", "ret=0")
    trace.fork(10, 11)
    for address, port, ret in (("198.18.0.1", 443, 0), ("203.0.113.7", 31337, -111)):
        trace.add(
            11,
            "connect",
            f"fam=2 port={wire_port(port)} addr={wire_ipv4(address)} a6hi=0x0 a6lo=0x0 len=16",
        )
        trace.add(11, "connect_r", f"ret={ret}")
    trace.add(
        11,
        "udpsend",
        f"daddr=0 dport=0 fam=2 port={wire_port(9999)} "
        f"addr={wire_ipv4('198.51.100.9')} a6hi=0x0 a6lo=0x0 size=4",
    )
    path.write_bytes(b"\n".join(trace.lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> PcapNetwork:
    return analyse_pcap(scenario().write(tmp_path_factory.mktemp("pcap") / "network.pcap"))


def report_for(tmp_path: Path, pcap: Path, trace: Path | None = None) -> Report:
    return build_report(
        sample=SAMPLE,
        analysis=AnalysisMeta(id="pcap"),
        trace_path=trace if trace is not None else scenario_trace(tmp_path / "trace.log"),
        root_pid=10,
        clock=(5.0, T0),
        pcap_path=pcap,
    )


class TestScenario:
    def test_capture_summary(self, network: PcapNetwork) -> None:
        capture = network.capture
        frames = scenario().frames
        assert capture.analysed and not capture.truncated
        assert capture.packets == len(frames)
        assert capture.bytes == sum(len(frame) for _, frame in frames)
        assert (capture.non_ip, capture.malformed, capture.dns_malformed) == (1, 0, 0)
        assert capture.dropped == {} and network.errors == []

    def test_flows(self, network: PcapNetwork) -> None:
        summary = [
            (f.proto, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.src_packets, f.dst_packets)
            for f in network.flows
        ]
        assert summary == [
            ("udp", GUEST, 40001, DNS_SERVER, 53, 1, 1),
            ("tcp", GUEST, 40002, "93.184.216.34", 8080, 5, 3),
            ("tcp", GUEST, 40003, "198.18.0.1", 443, 3, 1),
            ("tcp", GUEST, 40004, "203.0.113.7", 31337, 1, 1),
            ("udp", GUEST, 40005, "198.51.100.9", 9999, 1, 0),
            ("tcp", GUEST6, 40006, "2001:db8::1", 443, 1, 0),
        ]
        assert {f.direction for f in network.flows} == {"outbound"}

    def test_flow_bytes_times_and_flags(self, network: PcapNetwork) -> None:
        frames = scenario().frames
        http = network.flows[1]
        # Frames 3 to 10 are the HTTP connection (the ARP and the DNS exchange come first).
        sent = [frame for _, frame in frames[3:11]]
        assert http.src_bytes + http.dst_bytes == sum(len(f) for f in sent)
        assert (http.src_payload, http.dst_payload) == (len(HTTP_REQUEST), len(HTTP_RESPONSE))
        assert http.first_epoch == pytest.approx(frames[3][0])
        assert http.last_epoch == pytest.approx(frames[10][0])
        assert http.first_utc == "2023-11-14T22:13:20.040000Z"
        assert http.tcp_flags == ["S", "SA", "A", "PA", "FA"]
        refused = network.flows[3]
        assert refused.tcp_flags == ["S", "RA"]
        assert (refused.src_bytes, refused.dst_bytes) == (54, 54)
        udp = network.flows[4]
        assert (udp.src_payload, udp.family, udp.ip_proto) == (4, "ipv4", 17)
        assert network.flows[5].family == "ipv6"

    def test_dns(self, network: PcapNetwork) -> None:
        (record,) = network.dns
        assert (record.id, record.name, record.type, record.proto) == (
            0x1234,
            "c2.example",
            "A",
            "udp",
        )
        assert (record.src_ip, record.src_port, record.dst_ip) == (GUEST, 40001, DNS_SERVER)
        assert record.rcode == "NOERROR"
        assert [(a.type, a.data, a.ttl) for a in record.answers] == [("A", "10.0.2.2", 300)]
        assert record.time_epoch == pytest.approx(T0 + 0.02)

    def test_http_post_reassembled(self, network: PcapNetwork) -> None:
        (request,) = network.http
        assert (request.method, request.host, request.path) == (
            "POST",
            "c2.example:8080",
            "/gate.php?id=7",
        )
        assert request.url == "http://c2.example:8080/gate.php?id=7"
        assert request.user_agent == "EvilBot/6.6 (x86_64)"
        assert request.content_type == "application/octet-stream"
        assert request.body_size == len(HTTP_BODY)
        assert request.body_sha256 == hashlib.sha256(HTTP_BODY).hexdigest()
        assert not request.body_truncated
        assert request.status == 201
        assert (request.dst_ip, request.dst_port, request.version) == (
            "93.184.216.34",
            8080,
            "HTTP/1.1",
        )

    def test_tls_client_hello(self, network: PcapNetwork) -> None:
        (hello,) = network.tls
        assert hello.sni == "evil.example"
        assert (hello.version, hello.client_version) == ("TLS 1.3", "TLS 1.2")
        assert hello.supported_versions == ["TLS 1.3", "TLS 1.2"]
        assert hello.alpn == ["h2", "http/1.1"]
        assert hello.ja3 == JA3
        assert hello.ja3_md5 == hashlib.md5(JA3.encode()).hexdigest()
        assert (hello.dst_ip, hello.dst_port) == ("198.18.0.1", 443)


class TestReport:
    def test_join_puts_pids_on_flows_and_records(self, tmp_path: Path) -> None:
        report = report_for(tmp_path, scenario().write(tmp_path / "network.pcap"))
        validate_report(report_dict(report))
        root, child = (p.key for p in report.processes)
        network = report.network
        assert [(f.dst_port, f.pid, f.process) for f in network.flows] == [
            (53, 10, root),
            (8080, 10, root),
            (443, 11, child),
            (31337, 11, child),
            (9999, 11, child),
            (443, None, None),
        ]
        assert (network.dns_traffic[0].pid, network.http[0].pid, network.tls[0].pid) == (
            10,
            10,
            11,
        )
        assert network.http[0].process == root and network.tls[0].process == child
        assert network.capture.packets == len(scenario().frames)
        # The tracer's own records are untouched.
        assert [c.dst_port for c in network.connections] == [8080, 443, 31337]
        assert not [e for e in report.errors if "capture" in e]

    def test_each_traced_connect_is_used_once(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        for port in (41000, 41001, 41002):
            cap.tcp(GUEST, port, "192.0.2.80", 80, SYN, seq=port)
        trace = started(10).fork(10, 11)
        body = f"fam=2 port={wire_port(80)} addr={wire_ipv4('192.0.2.80')} a6hi=0x0 a6lo=0x0"
        trace.add(10, "connect", body + " len=16").add(10, "connect_r", "ret=0")
        trace.add(11, "connect", body + " len=16").add(11, "connect_r", "ret=0")
        path = tmp_path / "trace.log"
        path.write_bytes(b"\n".join(trace.lines) + b"\n")
        report = report_for(tmp_path, cap.write(tmp_path / "n.pcap"), trace=path)
        # Two processes connected once each: the third flow is ambiguous and stays unattributed.
        assert [f.pid for f in report.network.flows] == [10, 11, None]

    def test_ipv4_mapped_destination_joins(self, tmp_path: Path) -> None:
        cap = PcapBuilder().tcp(GUEST, 41000, "192.0.2.80", 80, SYN, seq=1)
        mapped = int.from_bytes(socket.inet_pton(socket.AF_INET6, "::ffff:192.0.2.80"), "big")
        hi = int.from_bytes((mapped >> 64).to_bytes(8, "big"), "little")
        lo = int.from_bytes((mapped & (2**64 - 1)).to_bytes(8, "big"), "little")
        trace = started(10).add(
            10, "connect", f"fam=10 port={wire_port(80)} addr=0 a6hi={hi:#x} a6lo={lo:#x} len=28"
        )
        path = tmp_path / "trace.log"
        path.write_bytes(b"\n".join(trace.lines) + b"\n")
        report = report_for(tmp_path, cap.write(tmp_path / "n.pcap"), trace=path)
        assert report.network.connections[0].family == "ipv6"
        assert report.network.flows[0].pid == 10

    def test_without_capture_the_network_section_is_unchanged(self, tmp_path: Path) -> None:
        report = build_report(
            sample=SAMPLE,
            analysis=AnalysisMeta(id="x"),
            trace_path=scenario_trace(tmp_path / "trace.log"),
            root_pid=10,
        )
        assert report.network.flows == [] and not report.network.capture.analysed
        data = report_dict(report)
        validate_report(data)
        assert data["network"]["capture"]["analysed"] is False

    def test_missing_capture_is_an_error(self, tmp_path: Path) -> None:
        report = report_for(tmp_path, tmp_path / "absent.pcap")
        assert any(e.startswith("network capture: capture unreadable") for e in report.errors)
        assert not report.network.capture.analysed
        validate_report(report_dict(report))

    def test_defect_costs_the_capture_not_the_report(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> PcapNetwork:
            raise RuntimeError("boom")

        monkeypatch.setattr("aasee.processing.plugins.core.analyse_pcap", broken)
        report = report_for(tmp_path, scenario().write(tmp_path / "n.pcap"))
        assert "postprocessing plugin capture failed: RuntimeError: boom" in report.errors
        assert report.processes


class TestDecoding:
    def test_fragmented_udp_is_one_flow(self, tmp_path: Path) -> None:
        payload = bytes(range(256)) * 8
        datagram = dpkt.udp.UDP(sport=5000, dport=6000, data=payload)
        datagram.ulen = len(bytes(datagram))
        whole = bytes(datagram)
        cap = PcapBuilder()
        for offset, chunk, more in ((0, whole[:1480], True), (1480, whole[1480:], False)):
            packet = dpkt.ip.IP(
                src=socket.inet_aton(GUEST),
                dst=socket.inet_aton("192.0.2.1"),
                p=17,
                id=77,
                mf=int(more),
                offset=offset // 8,
                data=chunk,
            )
            cap.raw(bytes(dpkt.ethernet.Ethernet(src=GUEST_MAC, data=packet)))
        (flow,) = analyse_pcap(cap.write(tmp_path / "f.pcap")).flows
        assert (flow.src_port, flow.dst_port, flow.src_packets) == (5000, 6000, 2)
        assert flow.src_payload == len(payload) + 8 - 8

    def test_dns_over_tcp(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        cap.handshake(GUEST, 42000, DNS_SERVER, 53, isn=100)
        query = dns_query(7, "tcp.example", dpkt.dns.DNS_TXT)
        cap.tcp(GUEST, 42000, DNS_SERVER, 53, PSH | ACK, seq=101, data=_vector(2, query))
        response = dpkt.dns.DNS(
            id=7,
            qr=dpkt.dns.DNS_R,
            rcode=dpkt.dns.DNS_RCODE_NXDOMAIN,
            qd=[dpkt.dns.DNS.Q(name="tcp.example", type=dpkt.dns.DNS_TXT)],
        )
        cap.tcp(DNS_SERVER, 53, GUEST, 42000, PSH | ACK, seq=5001, data=_vector(2, bytes(response)))
        (record,) = analyse_pcap(cap.write(tmp_path / "t.pcap")).dns
        assert (record.proto, record.name, record.type, record.rcode) == (
            "tcp",
            "tcp.example",
            "TXT",
            "NXDOMAIN",
        )

    def test_dns_retransmission_and_unmatched_response(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        for _ in range(3):
            cap.udp(GUEST, 40001, DNS_SERVER, 53, dns_query(1, "again.example"))
        cap.udp(DNS_SERVER, 53, GUEST, 40001, dns_answer(1, "again.example", "10.0.2.2"))
        cap.udp(DNS_SERVER, 53, GUEST, 40001, dns_answer(1, "again.example", "10.0.2.2"))
        cap.udp(DNS_SERVER, 53, GUEST, 40009, dns_answer(2, "orphan.example", "10.0.2.2"))
        first, orphan = analyse_pcap(cap.write(tmp_path / "d.pcap")).dns
        assert (first.count, first.rcode, len(first.answers)) == (3, "NOERROR", 1)
        assert (orphan.name, orphan.src_ip, orphan.src_port, orphan.rcode) == (
            "orphan.example",
            GUEST,
            40009,
            "NOERROR",
        )

    def test_port_reuse_after_close_starts_a_new_flow(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        for isn in (100, 900):
            cap.handshake(GUEST, 43000, "192.0.2.1", 80, isn=isn)
            cap.tcp(GUEST, 43000, "192.0.2.1", 80, RST | ACK, seq=isn + 1)
        flows = analyse_pcap(cap.write(tmp_path / "r.pcap")).flows
        assert [(f.src_packets, f.dst_packets) for f in flows] == [(3, 1), (3, 1)]

    def test_http_without_host_and_pipelined(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        cap.handshake(GUEST, 44000, "192.0.2.5", 8000, isn=0)
        requests = b"GET /a HTTP/1.0\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n"
        responses = (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n"
        )
        cap.tcp(GUEST, 44000, "192.0.2.5", 8000, PSH | ACK, seq=1, data=requests)
        cap.tcp("192.0.2.5", 8000, GUEST, 44000, PSH | ACK, seq=5001, data=responses)
        first, second = analyse_pcap(cap.write(tmp_path / "h.pcap")).http
        assert (first.url, first.host, first.status, first.user_agent) == (
            "http://192.0.2.5:8000/a",
            None,
            200,
            None,
        )
        assert (second.method, second.url, second.status) == ("HEAD", "http://h/b", 404)

    def test_raw_ip_link_type(self, tmp_path: Path) -> None:
        packet = dpkt.ip.IP(
            src=socket.inet_aton(GUEST),
            dst=socket.inet_aton("192.0.2.1"),
            p=1,
            data=dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1)),
        )
        buffer = _Buffer()
        writer = dpkt.pcap.Writer(buffer, linktype=dpkt.pcap.DLT_RAW)
        writer.writepkt(bytes(packet), T0)
        path = tmp_path / "raw.pcap"
        path.write_bytes(buffer.data)
        (flow,) = analyse_pcap(path).flows
        assert (flow.proto, flow.src_port, flow.direction) == ("icmp", None, "outbound")


class TestHostile:
    def test_truncated_mid_packet(self, tmp_path: Path) -> None:
        data = scenario().bytes()
        path = tmp_path / "cut.pcap"
        path.write_bytes(data[:-10])
        result = analyse_pcap(path)
        assert result.capture.truncated
        assert result.capture.packets == len(scenario().frames) - 1
        assert "middle of a packet" in result.errors[0]
        assert len(result.flows) == 5 and result.tls and result.http

    def test_truncated_in_a_record_header(self, tmp_path: Path) -> None:
        data = scenario().bytes()
        path = tmp_path / "cut.pcap"
        path.write_bytes(data + data[24:30])
        result = analyse_pcap(path)
        assert result.capture.truncated and "record header" in result.errors[0]
        assert result.capture.packets == len(scenario().frames)

    def test_garbage_after_a_valid_header(self, tmp_path: Path) -> None:
        rng = random.Random(1)
        path = tmp_path / "garbage.pcap"
        path.write_bytes(scenario().bytes()[:24] + rng.randbytes(100_000))
        result = analyse_pcap(path)
        assert result.errors and result.capture.truncated
        assert result.capture.analysed

    def test_garbage_frames(self, tmp_path: Path) -> None:
        rng = random.Random(2)
        cap = PcapBuilder()
        for size in [0, 1, 13, 14, 15, 33, 34, 54, 60, 1500] * 50:
            cap.raw(rng.randbytes(size))
        cap.raw(GATEWAY_MAC * 2 + b"\x08\x00" + b"\x45" + bytes(10))
        cap.raw(GATEWAY_MAC * 2 + b"\x86\xdd" + b"\x60" + bytes(50))
        cap.raw(GATEWAY_MAC * 2 + b"\x81\x00\x00\x01\x08\x00" + b"\x4f" + bytes(60))
        result = analyse_pcap(cap.write(tmp_path / "junk.pcap"))
        capture = result.capture
        assert capture.packets == len(cap.frames)
        assert capture.non_ip + capture.malformed + sum(
            f.src_packets + f.dst_packets for f in result.flows
        ) == len(cap.frames)
        assert capture.malformed >= 3
        assert result.errors == []

    def test_dns_compression_loop(self, tmp_path: Path) -> None:
        header = struct.pack(">HHHHHH", 9, 0x8180, 1, 1, 0, 0)
        question = b"\x04loop\xc0\x0c" + b"\x00\x01\x00\x01"
        looping = header + b"\xc0\x0c\x00\x01\x00\x01"
        cap = PcapBuilder()
        cap.udp(DNS_SERVER, 53, GUEST, 40001, looping)
        cap.udp(DNS_SERVER, 53, GUEST, 40001, header + question)
        # A pointer loop is given up after a few hops: little work, not a spin.
        result, _ = lines_run(lambda: analyse_pcap(cap.write(tmp_path / "loop.pcap")), 10_000)
        assert result.capture.dns_malformed == 2
        assert result.dns == [] and len(result.flows) == 1

    def test_ten_megabyte_http_upload_is_bounded(self, tmp_path: Path) -> None:
        size = 10 << 20
        head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
        stream = head + bytes(size)
        cap = PcapBuilder()
        cap.handshake(GUEST, 45000, "192.0.2.9", 80, isn=0)
        for offset in range(0, len(stream), 1448):
            chunk = stream[offset : offset + 1448]
            cap.tcp(GUEST, 45000, "192.0.2.9", 80, ACK, seq=1 + offset, data=chunk)
        path = cap.write(tmp_path / "big.pcap")
        del cap, stream
        # Bounded in memory: the analysis never holds the upload (nor half of it).
        tracemalloc.start()
        try:
            result = analyse_pcap(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < size // 2, peak
        (request,) = result.http
        assert request.body_truncated
        assert request.body_size == 64 * 1024 - len(head)
        assert request.body_sha256 == hashlib.sha256(bytes(request.body_size)).hexdigest()
        assert result.flows[0].src_payload == len(head) + size

    def test_stream_buffer_budget(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        for port in range(46000, 46010):
            cap.tcp(GUEST, port, "192.0.2.9", 80, ACK, seq=1, data=b"GET / HTTP/1.1\r\n\r\n" * 50)
        limits = PcapLimits(buffer_bytes=3000)
        result = analyse_pcap(cap.write(tmp_path / "b.pcap"), limits)
        assert result.capture.dropped["stream_bytes"] > 0
        assert 0 < len(result.http) < 500

    def test_many_tiny_packets_cost_the_same_each(self, tmp_path: Path) -> None:
        frames = [
            PcapBuilder().udp(GUEST, 1024 + i, "192.0.2.1", 7, b"x").frames[0][1]
            for i in range(1000)
        ]
        syn = PcapBuilder().tcp(GUEST, 50000, "192.0.2.1", 80, SYN).frames[0][1]
        header = PcapBuilder().bytes()

        def capture(packets: int) -> PcapNetwork:
            chunks = [header]
            for i in range(packets):
                frame = frames[i % 1000] if i % 10 else syn
                chunks.append(struct.pack("<IIII", 1_700_000_000, i, len(frame), len(frame)))
                chunks.append(frame)
            path = tmp_path / f"many-{packets}.pcap"
            path.write_bytes(b"".join(chunks))
            return analyse_pcap(path)

        result = capture(200_000)
        assert result.capture.packets == 200_000
        # Every tenth packet is the SYN: 900 of the 1000 UDP flows occur.
        assert len(result.flows) == 901
        # Past the first packets of each flow, twice the packets is at most twice the work
        # (throughput itself is a benchmark's business, not a test's).
        grows_linearly(capture, 10_000, slack=1.05)

    def test_limits_are_counted(self, tmp_path: Path) -> None:
        cap = PcapBuilder()
        for i in range(30):
            cap.udp(GUEST, 2000 + i, DNS_SERVER, 53, dns_query(i, f"n{i}.example"))
        limits = PcapLimits(max_packets=25, max_flows=10, max_dns=5)
        result = analyse_pcap(cap.write(tmp_path / "l.pcap"), limits)
        capture = result.capture
        assert capture.packets == 25 and capture.truncated
        assert capture.dropped == {"dns": 5, "flows": 15, "packets": 5}
        assert len(result.flows) == 10 and len(result.dns) == 5
        assert any("packet limit" in e for e in result.errors)

    def test_time_limit(self, tmp_path: Path) -> None:
        result = analyse_pcap(scenario().write(tmp_path / "s.pcap"), PcapLimits(max_seconds=-1))
        assert result.capture.truncated and "stopped after" in result.errors[0]

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "empty"),
            (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng"),
            (b"GIF89a" + bytes(40), "not a pcap"),
            (b"\xd4\xc3\xb2\xa1\x02\x00", "cut short"),
            (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(12) + b"\x93\x00\x00\x00", "link type"),
        ],
    )
    def test_not_a_usable_pcap(self, tmp_path: Path, content: bytes, message: str) -> None:
        path = tmp_path / "x.pcap"
        path.write_bytes(content)
        result = analyse_pcap(path)
        assert message in result.errors[0]
        assert not result.capture.analysed and result.flows == []

    def test_oversized_record(self, tmp_path: Path) -> None:
        data = scenario().bytes()
        path = tmp_path / "big.pcap"
        path.write_bytes(data + struct.pack("<IIII", 0, 0, 1 << 31, 1 << 31) + bytes(100))
        result = analyse_pcap(path)
        assert "claims 2147483648 captured bytes" in result.errors[0]
        assert result.capture.packets == len(scenario().frames)

    @pytest.mark.parametrize("seed", range(30))
    def test_mutated_capture_never_raises(self, tmp_path: Path, seed: int) -> None:
        rng = random.Random(seed)
        data = bytearray(scenario().bytes())
        for _ in range(rng.randint(1, 40)):
            where = rng.randrange(24, len(data))
            data[where] = rng.randrange(256)
        if seed % 3 == 0:
            del data[rng.randrange(24, len(data)) :]
        pcap = tmp_path / "m.pcap"
        pcap.write_bytes(bytes(data))
        report = report_for(tmp_path, pcap)
        validate_report(report_dict(report))
        assert not [e for e in report.errors if "failed" in e or "Error" in e], report.errors
