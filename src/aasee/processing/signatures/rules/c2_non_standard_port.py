"""Protocols on ports they do not normally use: HTTP or TLS elsewhere than their ports, a
telnet client used on another port."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

HTTP_PORTS = frozenset({80, 8080, 8000, 8008, 8081, 8888, 3128, 8118, 591, 5000, 9000, 8088})
TLS_PORTS = frozenset({443, 8443, 993, 995, 465, 587, 636, 853, 5061, 6697, 8883, 5223, 990,
                       989, 992, 994, 2376, 6443, 9443, 4443, 10250, 5986, 3269, 25, 143, 110,
                       21})  # fmt: skip


class NonStandardPort(Signature):
    id = "c2_non_standard_port"
    name = "Uses a protocol on a port it does not normally use"
    description = (
        "An HTTP request or a TLS handshake seen on a port that is not one of that "
        "protocol's usual ports (HTTP on 4444, TLS on 8081...), or a telnet client "
        "connecting elsewhere than port 23: traffic blended or hidden on an unexpected port."
    )
    severity = "low"
    category = "command-and-control"
    techniques = ("T1571",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for request in ctx.http():
            if request.item.dst_port not in HTTP_PORTS:
                yield request.evidence(
                    f"HTTP {request.item.method} to {request.item.dst_ip} port "
                    f"{request.item.dst_port}"
                )
        for i, hello in enumerate(ctx.report.network.tls):
            if hello.dst_port not in TLS_PORTS:
                found = Found(hello, pointer("network", "tls", i), hello.process, hello.pid)
                yield found.evidence(f"TLS to {hello.sni or hello.dst_ip} port {hello.dst_port}")
        telnets = {run.process for run in ctx.commands("telnet")}
        for i, c in enumerate(ctx.report.network.connections):
            if c.process in telnets and c.dst_port != 23:
                found_c = Found(c, pointer("network", "connections", i), c.process, c.pid)
                yield found_c.evidence(f"telnet connected to {c.dst_ip} port {c.dst_port}")
