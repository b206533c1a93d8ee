"""Attributing captured traffic to guest processes through the tracer's network records.

The capture's clock (host) and the trace's (guest monotonic) are never compared: a flow the
guest opened takes the process of the first tracer record with the same protocol,
destination address and port that has occurrences left (each record stands for ``count``
connect or send calls). When every such record is used up, the flow is attributed only if
all of them name one process. DNS, HTTP and TLS records take the process of their flow.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .models import Connection, DnsRecord, Flow, HttpRequest, Network, TlsClientHello, UdpSend

__all__ = ["attribute_traffic"]

_Target = tuple[str, str, int]
_Ends = tuple[str, str, int, str, int]
_Captured = DnsRecord | HttpRequest | TlsClientHello


class _Candidate:
    __slots__ = ("pid", "process", "time", "left")

    def __init__(self, record: Connection | UdpSend) -> None:
        self.pid = record.pid
        self.process = record.process
        self.time = record.time
        self.left = max(record.count, 1)


def _address(text: str) -> str:
    """The address in one spelling, IPv4-mapped IPv6 (from dual-stack sockets) as IPv4."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _candidates(network: Network) -> dict[_Target, list[_Candidate]]:
    pools: dict[_Target, list[_Candidate]] = {}
    for connection in network.connections:
        if connection.proto in ("tcp", "udp"):
            target = (connection.proto, _address(connection.dst_ip), connection.dst_port)
            pools.setdefault(target, []).append(_Candidate(connection))
    for send in network.udp:
        target = ("udp", _address(send.dst_ip), send.dst_port)
        pools.setdefault(target, []).append(_Candidate(send))
    for pool in pools.values():
        pool.sort(key=lambda candidate: candidate.time)
    return pools


def _pick(pool: Sequence[_Candidate]) -> _Candidate | None:
    for candidate in pool:
        if candidate.left > 0:
            candidate.left -= 1
            return candidate
    if pool and len({candidate.process for candidate in pool}) == 1:
        return pool[0]
    return None


def attribute_traffic(network: Network) -> None:
    """Fill ``pid``/``process`` of the captured flows, DNS, HTTP and TLS records in place."""
    pools = _candidates(network)
    by_ends: dict[_Ends, list[Flow]] = {}
    for flow in sorted(network.flows, key=lambda f: f.first_epoch):
        if flow.src_port is None or flow.dst_port is None:
            continue
        by_ends.setdefault(
            (flow.proto, flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port), []
        ).append(flow)
        if flow.direction != "outbound" or flow.proto not in ("tcp", "udp"):
            continue
        pool = pools.get((flow.proto, _address(flow.dst_ip), flow.dst_port))
        chosen = _pick(pool) if pool else None
        if chosen is not None:
            flow.pid, flow.process = chosen.pid, chosen.process
    captured: list[tuple[str, Sequence[_Captured]]] = [
        ("udp", [r for r in network.dns_traffic if r.proto == "udp"]),
        ("tcp", [r for r in network.dns_traffic if r.proto == "tcp"]),
        ("tcp", network.http),
        ("tcp", network.tls),
    ]
    for proto, records in captured:
        for record in records:
            _from_flow(record, proto, by_ends)


def _from_flow(record: _Captured, proto: str, by_ends: dict[_Ends, list[Flow]]) -> None:
    src, dst = (record.src_ip, record.src_port), (record.dst_ip, record.dst_port)
    flows = by_ends.get((proto, *src, *dst)) or by_ends.get((proto, *dst, *src))
    if not flows:
        return
    # The same ports may carry several connections over time: take the one then open.
    moment = record.time_epoch
    flow = next((f for f in flows if f.first_epoch <= moment <= f.last_epoch), flows[0])
    if flow.pid is not None:
        record.pid, record.process = flow.pid, flow.process
