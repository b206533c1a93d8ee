"""Page sections for network activity: what the trace saw the processes attempt, and what
the host-side capture saw on the wire (DNS, HTTP with user agents, TLS SNI, flows)."""

from __future__ import annotations

from ..models import Network
from .context import PageContext, build_table, epoch_time, short_time
from .tables import Cell, Fact, Table, cell

__all__ = ["capture_facts", "network_tables"]


def _endpoint(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def network_tables(ctx: PageContext) -> list[Table]:
    net: Network = ctx.report.network
    proc = ctx.process_cell
    tables = [
        build_table(
            ctx,
            "DNS (capture)",
            ("network", "dns_traffic"),
            net.dns_traffic,
            ["name", "type", "answer", "server", "count", "process", "time"],
            lambda d: [
                cell(d.name, 200, "mono"),
                cell(d.type, 10),
                cell(
                    ", ".join(f"{a.type} {a.data}" for a in d.answers[:4])
                    + (" …" if len(d.answers) > 4 else "")
                    if d.answers
                    else (d.rcode or "no response"),
                    200,
                ),
                cell(_endpoint(d.dst_ip, d.dst_port), 60),
                Cell(text=str(d.count)),
                proc(d.process, d.pid),
                epoch_time(d.time_utc, d.time_epoch),
            ],
        ),
        build_table(
            ctx,
            "HTTP requests (capture)",
            ("network", "http"),
            net.http,
            ["method", "url", "user agent", "status", "body", "process", "time"],
            lambda h: [
                cell(h.method, 16),
                cell(h.url, 300, "mono"),
                cell(h.user_agent or "-", 200),
                Cell(text="" if h.status is None else str(h.status)),
                cell(
                    f"{h.body_size} bytes"
                    + (f" sha256 {h.body_sha256[:16]}…" if h.body_sha256 else "")
                    + (" (cut)" if h.body_truncated else ""),
                    60,
                ),
                proc(h.process, h.pid),
                epoch_time(h.time_utc, h.time_epoch),
            ],
        ),
        build_table(
            ctx,
            "TLS (capture)",
            ("network", "tls"),
            net.tls,
            ["server name (SNI)", "destination", "version", "ALPN", "JA3", "process", "time"],
            lambda t: [
                cell(t.sni or "-", 200, "mono"),
                cell(_endpoint(t.dst_ip, t.dst_port), 60),
                cell(", ".join(t.supported_versions) or t.version, 60),
                cell(", ".join(t.alpn), 60),
                cell(t.ja3_md5, 32, "mono"),
                proc(t.process, t.pid),
                epoch_time(t.time_utc, t.time_epoch),
            ],
        ),
        build_table(
            ctx,
            "Connections (trace)",
            ("network", "connections"),
            net.connections,
            ["proto", "destination", "result", "count", "process", "time"],
            lambda c: [
                cell(c.proto, 10),
                cell(_endpoint(c.dst_ip, c.dst_port), 60, "mono"),
                cell(c.result or "?", 30, "bad" if c.result not in (None, "ok") else None),
                Cell(text=str(c.count)),
                proc(c.process, c.pid),
                short_time(c.time_utc, c.time),
            ],
        ),
        build_table(
            ctx,
            "UDP sent (trace)",
            ("network", "udp"),
            net.udp,
            ["destination", "bytes", "count", "process", "time"],
            lambda u: [
                cell(_endpoint(u.dst_ip, u.dst_port), 60, "mono"),
                Cell(text=str(u.bytes)),
                Cell(text=str(u.count)),
                proc(u.process, u.pid),
                short_time(u.time_utc, u.time),
            ],
        ),
        build_table(
            ctx,
            "DNS queries (trace)",
            ("network", "dns"),
            net.dns,
            ["server", "query", "count", "process", "time"],
            lambda d: [
                cell(_endpoint(d.server, d.port), 60, "mono"),
                cell(d.query or "", 200, "mono"),
                Cell(text=str(d.count)),
                proc(d.process, d.pid),
                short_time(d.time_utc, d.time),
            ],
        ),
        build_table(
            ctx,
            "Listening sockets (bind)",
            ("network", "binds"),
            net.binds,
            ["proto", "address", "result", "process", "time"],
            lambda b: [
                cell(b.proto, 10),
                cell(_endpoint(b.ip, b.port), 60, "mono"),
                cell(b.result or "?", 30),
                proc(b.process, b.pid),
                short_time(b.time_utc, b.time),
            ],
        ),
        build_table(
            ctx,
            "Unix sockets",
            ("network", "unix"),
            net.unix,
            ["path", "result", "count", "process", "time"],
            lambda u: [
                cell(u.path + (" …" if u.path_truncated else ""), 200, "mono"),
                cell(u.result or "?", 30),
                Cell(text=str(u.count)),
                proc(u.process, u.pid),
                short_time(u.time_utc, u.time),
            ],
        ),
        build_table(
            ctx,
            "Flows (capture)",
            ("network", "flows"),
            net.flows,
            ["proto", "from", "to", "direction", "packets", "bytes", "flags", "process", "first"],
            lambda f: [
                cell(f.proto, 8),
                cell(_endpoint(f.src_ip, f.src_port), 60, "mono"),
                cell(_endpoint(f.dst_ip, f.dst_port), 60, "mono"),
                cell(f.direction, 10),
                Cell(text=f"{f.src_packets} / {f.dst_packets}", title="sent / received"),
                Cell(text=f"{f.src_bytes} / {f.dst_bytes}", title="sent / received"),
                cell(" ".join(f.tcp_flags), 40),
                proc(f.process, f.pid),
                epoch_time(f.first_utc, f.first_epoch),
            ],
        ),
    ]
    return [t for t in tables if t.total]


def capture_facts(ctx: PageContext) -> list[Fact]:
    capture = ctx.report.network.capture
    if not capture.analysed:
        return [Fact("capture", Cell(text="not analysed (no packet capture)", css="muted"))]
    facts = [
        Fact("packets", Cell(text=str(capture.packets))),
        Fact("bytes", Cell(text=str(capture.bytes))),
    ]
    if capture.truncated:
        facts.append(Fact("truncated", Cell(text="yes: the capture was cut", css="warn")))
    for label, value in (
        ("non-IP frames", capture.non_ip),
        ("malformed packets", capture.malformed),
        ("malformed DNS", capture.dns_malformed),
    ):
        if value:
            facts.append(Fact(label, Cell(text=str(value), css="warn")))
    for what, count in sorted(capture.dropped.items())[:50]:
        facts.append(Fact(f"dropped {what[:40]}", cell(count, 20, "warn")))
    return facts
