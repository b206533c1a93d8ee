"""Network activity from the host-side capture of the guest's NIC (``network.pcap``).

:func:`analyse_pcap` streams through the capture once and returns flows, DNS queries with
their answers, HTTP/1.x requests and TLS ClientHellos. The capture holds whatever the guest
chose to send, so everything is bounded (packets, flows, records, buffered stream bytes,
time) and counted when cut, and nothing in the file's content makes it raise: a cut or
corrupt capture yields what was read before the damage, plus an error string.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from .clock import iso_utc
from .models import Capture, DnsAnswer, DnsRecord, Flow, HttpRequest, TlsClientHello
from .net_dns import DnsError, DnsMessage, parse_message
from .net_http import HttpRequestData, parse_requests, parse_statuses
from .net_packet import (
    ICMP,
    ICMPV6,
    NON_IP,
    SUPPORTED_LINKS,
    TCP,
    UDP,
    Packet,
    PcapFormatError,
    PcapRecords,
    decode_frame,
)
from .net_stream import Assembled, Budget, HalfStream
from .net_tls import parse_client_hello

__all__ = ["GUEST_IPS", "PcapLimits", "PcapNetwork", "analyse_pcap"]

logger = logging.getLogger(__name__)

GUEST_IPS = ("10.0.2.15",)
"""The guest's address on the sandbox network."""

_FIN, _SYN, _RST, _PSH, _ACK, _URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_FLAG_LETTERS = ((_SYN, "S"), (_FIN, "F"), (_RST, "R"), (_PSH, "P"), (_ACK, "A"), (_URG, "U"))
_MASK = 0xFFFFFFFF
_DNS_PORT = 53
_MAX_MACS = 4096
_MAX_FRAGMENTS = 4096
_MAX_ERRORS = 20

_Key = tuple[int, bytes, int | None, bytes, int | None]


@dataclass(frozen=True)
class PcapLimits:
    """Bounds on the work and memory one capture may cost."""

    max_packets: int = 2_000_000
    max_flows: int = 50_000
    max_dns: int = 20_000
    max_http: int = 20_000
    max_tls: int = 20_000
    stream_bytes: int = 64 * 1024
    """Bytes of each direction of a TCP connection kept for HTTP, TLS and DNS decoding."""
    buffer_bytes: int = 64 << 20
    """Bytes all TCP streams together may buffer."""
    max_record: int = 256 * 1024
    """A record claiming more captured bytes means the file is corrupt from there on."""
    max_seconds: float = 300.0


@dataclass
class PcapNetwork:
    """What one capture holds; ``errors`` says what could not be read."""

    flows: list[Flow] = field(default_factory=list)
    dns: list[DnsRecord] = field(default_factory=list)
    http: list[HttpRequest] = field(default_factory=list)
    tls: list[TlsClientHello] = field(default_factory=list)
    capture: Capture = field(default_factory=Capture)
    errors: list[str] = field(default_factory=list)


@lru_cache(maxsize=1 << 14)
def _ip(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def _flag_text(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit) or "none"


def _proto(number: int) -> Literal["tcp", "udp", "icmp", "other"]:
    if number == TCP:
        return "tcp"
    if number == UDP:
        return "udp"
    if number in (ICMP, ICMPV6):
        return "icmp"
    return "other"


class _Flow:
    __slots__ = (
        "proto",
        "family",
        "src",
        "sport",
        "dst",
        "dport",
        "first",
        "last",
        "packets",
        "octets",
        "payload",
        "flags",
        "streams",
        "closed",
        "syn_seq",
    )

    def __init__(
        self,
        proto: int,
        family: int,
        src: bytes,
        sport: int | None,
        dst: bytes,
        dport: int | None,
        ts: float,
    ) -> None:
        self.proto = proto
        self.family = family
        self.src = src
        self.sport = sport
        self.dst = dst
        self.dport = dport
        self.first = ts
        self.last = ts
        self.packets = [0, 0]
        self.octets = [0, 0]
        self.payload = [0, 0]
        self.flags: list[int] = []
        self.streams: tuple[HalfStream, HalfStream] | None = None
        self.closed = False
        self.syn_seq: int | None = None


def _dns_key(ip: str, port: int, ident: int, name: str) -> tuple[str, int, int, str]:
    return ip, port, ident, name.lower()


class _Analyser:
    def __init__(self, limits: PcapLimits, guest_ips: Iterable[str], linktype: int) -> None:
        self.limits = limits
        self.linktype = linktype
        self.guest: set[bytes] = set()
        for text in guest_ips:
            try:
                self.guest.add(ipaddress.ip_address(text).packed)
            except ValueError:
                continue
        self.flows: list[_Flow] = []
        self.table: dict[_Key, _Flow] = {}
        self.fragments: dict[tuple[bytes, bytes, int, int], _Flow] = {}
        self.macs: dict[bytes, bytes] = {}
        self.budget = Budget(limits.buffer_bytes)
        self.packets = 0
        self.octets = 0
        self.non_ip = 0
        self.malformed = 0
        self.dns_malformed = 0
        self.dropped: dict[str, int] = {}
        self.errors: list[str] = []
        self.dns: list[DnsRecord] = []
        self.dns_pending: dict[tuple[str, int, int, str], list[DnsRecord]] = {}
        self.dns_answered: set[tuple[str, int, int, str]] = set()
        self.http: list[HttpRequest] = []
        self.tls: list[TlsClientHello] = []

    def drop(self, what: str, n: int = 1) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + n

    def failure(self, where: str, exc: Exception) -> None:
        # A defect met on hostile input must cost one packet or stream, not the capture.
        if len(self.errors) < _MAX_ERRORS:
            logger.warning("pcap analysis: %s: %r", where, exc)
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}")

    # --- packets -----------------------------------------------------------------------
    def packet(self, ts: float, length: int, frame: bytes) -> None:
        self.packets += 1
        self.octets += length
        decoded = decode_frame(frame, self.linktype)
        if isinstance(decoded, str):
            if decoded == NON_IP:
                self.non_ip += 1
            else:
                self.malformed += 1
            return
        if decoded.src_mac and len(self.macs) < _MAX_MACS:
            self.macs.setdefault(decoded.src, decoded.src_mac)
        fragment = decoded.fragment
        if fragment is not None and not decoded.first:
            known = self.fragments.get(fragment)
            if known is not None:
                self._account(known, 0 if decoded.src == known.src else 1, ts, length, decoded)
                return
        found = self._flow(decoded, ts)
        if found is None:
            self.drop("flows")
            return
        flow, direction = found
        self._account(flow, direction, ts, length, decoded)
        if fragment is not None and decoded.first:
            if len(self.fragments) >= _MAX_FRAGMENTS:
                self.fragments.clear()
            self.fragments[fragment] = flow
        if decoded.proto == TCP and decoded.sport is not None:
            self._tcp(flow, direction, decoded, ts)
        elif (
            decoded.proto == UDP
            and _DNS_PORT in (decoded.sport, decoded.dport)
            and (fragment is None or decoded.first)
        ):
            self._udp_dns(decoded, ts)

    def _account(self, flow: _Flow, direction: int, ts: float, length: int, pkt: Packet) -> None:
        flow.packets[direction] += 1
        flow.octets[direction] += length
        flow.payload[direction] += len(pkt.payload)
        if ts > flow.last:
            flow.last = ts

    def _flow(self, pkt: Packet, ts: float) -> tuple[_Flow, int] | None:
        proto, sport, dport = pkt.proto, pkt.sport, pkt.dport
        key: _Key = (proto, pkt.src, sport, pkt.dst, dport)
        reverse: _Key = (proto, pkt.dst, dport, pkt.src, sport)
        flow = self.table.get(key)
        direction = 0
        if flow is None:
            flow = self.table.get(reverse)
            direction = 1
        syn_only = proto == TCP and pkt.flags & (_SYN | _ACK) == _SYN
        if flow is not None and syn_only and flow.closed and flow.syn_seq != pkt.seq:
            # The same ports used again for a new connection after the last one ended.
            self.table.pop(key, None)
            self.table.pop(reverse, None)
            flow = None
        if flow is not None:
            return flow, direction
        if len(self.flows) >= self.limits.max_flows:
            return None
        if proto == TCP and pkt.flags & (_SYN | _ACK) == _SYN | _ACK:
            # The SYN was not captured: the sender of the SYN-ACK is the responder.
            flow = _Flow(proto, pkt.family, pkt.dst, dport, pkt.src, sport, ts)
            self.table[reverse] = flow
            direction = 1
        else:
            flow = _Flow(proto, pkt.family, pkt.src, sport, pkt.dst, dport, ts)
            self.table[key] = flow
            direction = 0
        self.flows.append(flow)
        return flow, direction

    def _tcp(self, flow: _Flow, direction: int, pkt: Packet, ts: float) -> None:
        flags = pkt.flags & 0x3F
        if flags not in flow.flags:
            flow.flags.append(flags)
        if flags & (_FIN | _RST):
            flow.closed = True
        syn = bool(flags & _SYN)
        if syn and not flags & _ACK and direction == 0 and flow.syn_seq is None:
            flow.syn_seq = pkt.seq
        if not syn and not pkt.payload:
            return
        if flow.streams is None:
            limit = self.limits.stream_bytes
            flow.streams = (HalfStream(limit), HalfStream(limit))
        stream = flow.streams[direction]
        if syn:
            stream.syn(pkt.seq)
        if pkt.payload:
            seq = (pkt.seq + 1) & _MASK if syn else pkt.seq
            stream.add(seq, pkt.payload, ts, self.budget)

    # --- DNS ---------------------------------------------------------------------------
    def _udp_dns(self, pkt: Packet, ts: float) -> None:
        try:
            message = parse_message(pkt.payload)
        except DnsError:
            self.dns_malformed += 1
            return
        if pkt.sport is None or pkt.dport is None:
            return
        self._dns(message, "udp", _ip(pkt.src), pkt.sport, _ip(pkt.dst), pkt.dport, ts)

    def _dns(
        self,
        message: DnsMessage,
        proto: Literal["udp", "tcp"],
        src: str,
        sport: int,
        dst: str,
        dport: int,
        ts: float,
    ) -> None:
        if not message.response:
            for name, qtype in message.questions:
                key = _dns_key(src, sport, message.id, name)
                pending = self.dns_pending.get(key, [])
                repeat = next((r for r in pending if r.type == qtype), None)
                if repeat is not None:
                    # The resolver asked again before an answer came: one query, counted.
                    repeat.count += 1
                    continue
                if len(self.dns) >= self.limits.max_dns:
                    self.drop("dns")
                    continue
                record = DnsRecord(
                    time_epoch=ts,
                    time_utc=iso_utc(ts),
                    src_ip=src,
                    src_port=sport,
                    dst_ip=dst,
                    dst_port=dport,
                    proto=proto,
                    id=message.id,
                    name=name,
                    type=qtype,
                )
                self.dns.append(record)
                self.dns_pending.setdefault(key, []).append(record)
            return
        answers = [
            DnsAnswer(name=a.name, type=a.type, ttl=a.ttl, data=a.data) for a in message.answers
        ]
        for name, qtype in message.questions:
            key = _dns_key(dst, dport, message.id, name)
            pending = self.dns_pending.get(key, [])
            if pending:
                match = next((r for r in pending if r.type == qtype), pending[0])
                pending.remove(match)
            elif key in self.dns_answered:
                continue
            elif len(self.dns) < self.limits.max_dns:
                # The query was not captured: record what the response tells about it.
                match = DnsRecord(
                    time_epoch=ts,
                    time_utc=iso_utc(ts),
                    src_ip=dst,
                    src_port=dport,
                    dst_ip=src,
                    dst_port=sport,
                    proto=proto,
                    id=message.id,
                    name=name,
                    type=qtype,
                )
                self.dns.append(match)
            else:
                self.drop("dns")
                continue
            self.dns_answered.add(key)
            match.rcode = message.rcode
            match.answers = list(answers)

    def _tcp_dns(self, flow: _Flow, streams: list[Assembled]) -> None:
        ends = ((flow.src, flow.sport), (flow.dst, flow.dport))
        found: list[tuple[DnsMessage, int, float]] = []
        for side, assembled in enumerate(streams):
            data = assembled.data
            position = 0
            while position + 2 <= len(data):
                size = (data[position] << 8) | data[position + 1]
                raw = data[position + 2 : position + 2 + size]
                if len(raw) < size:
                    break
                try:
                    found.append((parse_message(raw), side, assembled.time_at(position)))
                except DnsError:
                    self.dns_malformed += 1
                position += 2 + size
        # Queries first, so that responses find them whatever the capture order.
        found.sort(key=lambda item: (item[0].response, item[2]))
        for message, side, ts in found:
            (src, sport), (dst, dport) = ends[side], ends[1 - side]
            if sport is None or dport is None:
                continue
            self._dns(message, "tcp", _ip(src), sport, _ip(dst), dport, ts)

    # --- TCP payloads ------------------------------------------------------------------
    def streams(self) -> None:
        for flow in self.flows:
            if flow.streams is None or flow.sport is None or flow.dport is None:
                continue
            try:
                self._stream(flow, flow.streams, flow.sport, flow.dport)
            except Exception as exc:
                self.failure(f"TCP stream {_ip(flow.src)}:{flow.sport}", exc)
            # Assembled data is not needed again: release it before the next flow.
            flow.streams = None

    def _stream(
        self, flow: _Flow, halves: tuple[HalfStream, HalfStream], sport: int, dport: int
    ) -> None:
        client = halves[0].assemble()
        if not client.data and not halves[1].segments:
            return
        if _DNS_PORT in (sport, dport):
            self._tcp_dns(flow, [client, halves[1].assemble()])
            return
        data = client.data
        if not data:
            return
        if data[0] == 0x16:
            hello = parse_client_hello(data)
            if hello is not None:
                if len(self.tls) >= self.limits.max_tls:
                    self.drop("tls")
                    return
                ts = client.time_at(0)
                self.tls.append(
                    TlsClientHello(
                        time_epoch=ts,
                        time_utc=iso_utc(ts),
                        src_ip=_ip(flow.src),
                        src_port=sport,
                        dst_ip=_ip(flow.dst),
                        dst_port=dport,
                        sni=hello.sni,
                        version=hello.version,
                        client_version=hello.client_version,
                        supported_versions=hello.supported_versions,
                        alpn=hello.alpn,
                        ja3=hello.ja3,
                        ja3_md5=hello.ja3_md5,
                    )
                )
            return
        requests = parse_requests(data)
        if not requests:
            return
        statuses = parse_statuses(halves[1].assemble().data, [r.method for r in requests])
        for index, request in enumerate(requests):
            if len(self.http) >= self.limits.max_http:
                self.drop("http", len(requests) - index)
                return
            status = statuses[index] if index < len(statuses) else None
            ts = client.time_at(request.offset)
            self.http.append(self._http(flow, request, ts, status, sport, dport))

    def _http(
        self,
        flow: _Flow,
        request: HttpRequestData,
        ts: float,
        status: int | None,
        sport: int,
        dport: int,
    ) -> HttpRequest:
        target = request.target
        if request.method == "CONNECT":
            path = url = target
        elif target[:7].lower() == "http://" or target[:8].lower() == "https://":
            # Absolute form, as sent to a proxy: the target is the URL.
            _, slash, tail = target.partition("://")[2].partition("/")
            path, url = slash + tail or "/", target
        else:
            host = request.host
            if not host:
                address = _ip(flow.dst)
                address = f"[{address}]" if flow.family == 6 else address
                host = address if dport == 80 else f"{address}:{dport}"
            path = target
            url = f"http://{host}{target if target.startswith('/') else '/' + target}"
        return HttpRequest(
            time_epoch=ts,
            time_utc=iso_utc(ts),
            src_ip=_ip(flow.src),
            src_port=sport,
            dst_ip=_ip(flow.dst),
            dst_port=dport,
            method=request.method,
            version=request.version,
            host=request.host,
            path=path,
            url=url,
            user_agent=request.user_agent,
            content_type=request.content_type,
            body_size=request.body_size,
            body_sha256=request.body_sha256,
            body_truncated=request.body_truncated,
            status=status,
        )

    # --- result ------------------------------------------------------------------------
    def guest_addresses(self) -> set[bytes]:
        """The configured guest addresses and every other source address of the guest's NIC."""
        guest = set(self.guest)
        macs = {self.macs[address] for address in guest if address in self.macs}
        guest.update(address for address, mac in self.macs.items() if mac in macs)
        return guest

    def flow_models(self) -> list[Flow]:
        guest = self.guest_addresses()
        result = []
        for flow in self.flows:
            direction: Literal["outbound", "inbound", "other"] = "other"
            if flow.src in guest:
                direction = "outbound"
            elif flow.dst in guest:
                direction = "inbound"
            result.append(
                Flow(
                    proto=_proto(flow.proto),
                    ip_proto=flow.proto,
                    family="ipv4" if flow.family == 4 else "ipv6",
                    direction=direction,
                    src_ip=_ip(flow.src),
                    src_port=flow.sport,
                    dst_ip=_ip(flow.dst),
                    dst_port=flow.dport,
                    first_epoch=flow.first,
                    first_utc=iso_utc(flow.first),
                    last_epoch=flow.last,
                    last_utc=iso_utc(flow.last),
                    src_packets=flow.packets[0],
                    src_bytes=flow.octets[0],
                    src_payload=flow.payload[0],
                    dst_packets=flow.packets[1],
                    dst_bytes=flow.octets[1],
                    dst_payload=flow.payload[1],
                    tcp_flags=[_flag_text(f) for f in flow.flags],
                )
            )
        return result


def analyse_pcap(
    path: str | os.PathLike[str],
    limits: PcapLimits | None = None,
    *,
    guest_ips: Iterable[str] = GUEST_IPS,
) -> PcapNetwork:
    """Flows, DNS, HTTP and TLS in a capture; never raises on the file's content.

    ``guest_ips`` are the guest's addresses; other addresses the guest's NIC sent from (its
    IPv6 ones) are learned from the Ethernet source address. An unreadable or unsupported
    file gives an empty result whose ``errors`` say why.
    """
    limits = limits or PcapLimits()
    result = PcapNetwork()
    deadline = time.monotonic() + limits.max_seconds
    try:
        handle = open(path, "rb")
    except OSError as exc:
        result.errors.append(f"capture unreadable: {exc}")
        return result
    with handle:
        try:
            records = PcapRecords(handle, limits.max_record, deadline)
        except (PcapFormatError, OSError) as exc:
            result.errors.append(str(exc))
            return result
        if records.linktype not in SUPPORTED_LINKS:
            result.errors.append(f"capture link type {records.linktype} is not supported")
            return result
        analyser = _Analyser(limits, guest_ips, records.linktype)
        _read(records, analyser, limits, result.errors)
    try:
        analyser.streams()
    except Exception as exc:
        analyser.failure("stream analysis", exc)
    if analyser.budget.refused:
        analyser.drop("stream_bytes", analyser.budget.refused)
    if records.skipped:
        analyser.drop("packets", records.skipped)
        result.errors.append(
            f"packet limit reached: {records.skipped} packets after the first "
            f"{limits.max_packets} were not analysed"
        )
    if records.timed_out:
        result.errors.append(
            f"capture analysis stopped after {limits.max_seconds:g} seconds, "
            f"at packet {records.count}"
        )
    result.errors += analyser.errors
    result.flows = analyser.flow_models()
    result.dns = analyser.dns
    result.http = analyser.http
    result.tls = analyser.tls
    result.capture = Capture(
        analysed=True,
        packets=analyser.packets,
        bytes=analyser.octets,
        truncated=records.truncated or records.timed_out or bool(records.skipped),
        non_ip=analyser.non_ip,
        malformed=analyser.malformed,
        dns_malformed=analyser.dns_malformed,
        dropped=dict(sorted(analyser.dropped.items())),
    )
    return result


def _read(records: PcapRecords, analyser: _Analyser, limits: PcapLimits, errors: list[str]) -> None:
    try:
        for ts, length, frame in records:
            if analyser.packets >= limits.max_packets:
                records.skip = True
                records.skipped += 1
                continue
            try:
                analyser.packet(ts, length, frame)
            except Exception as exc:
                analyser.malformed += 1
                analyser.failure(f"packet {analyser.packets}", exc)
    except OSError as exc:
        errors.append(f"capture read failed: {exc}")
        records.truncated = True
    if records.error is not None:
        errors.append(records.error)
