"""Beaconing: HTTP requests (or TLS connections) repeated to one place at a regular pace."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

MIN_REQUESTS = 4
MIN_INTERVAL = 0.5
"""Seconds: requests closer than this are a burst (a page and its parts), not a beacon."""
MAX_JITTER = 0.5
"""Standard deviation of the intervals over their mean: at most this is "regular"."""


def periodic(times: list[float]) -> tuple[bool, float]:
    """Whether events at ``times`` recur at a regular pace, and that pace (seconds)."""
    times = sorted(times)
    if len(times) < MIN_REQUESTS:
        return False, 0.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = statistics.fmean(gaps)
    if mean < MIN_INTERVAL:
        return False, mean
    return statistics.pstdev(gaps) / mean <= MAX_JITTER, mean


class HttpBeacon(Signature):
    id = "c2_http_beacon"
    name = "Beacons to a server at regular intervals"
    description = (
        f"{MIN_REQUESTS} or more HTTP requests to the same host and path, or TLS connections "
        f"to the same server name, at a regular pace ({MIN_INTERVAL} s apart or more, jitter "
        f"within {MAX_JITTER:.0%} of the interval): a bot checking in with its controller."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1071.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        groups: dict[tuple[str, str], list[Found[Any]]] = {}
        times: dict[tuple[str, str], list[float]] = {}
        for found in ctx.http():
            request = found.item
            key = (request.host or request.dst_ip, request.path.split("?", 1)[0])
            groups.setdefault(key, []).append(found)
            times.setdefault(key, []).append(request.time_epoch)
        for i, hello in enumerate(ctx.report.network.tls):
            key = (hello.sni or hello.dst_ip, "(tls)")
            found_tls: Found[Any] = Found(
                hello, pointer("network", "tls", i), hello.process, hello.pid
            )
            groups.setdefault(key, []).append(found_tls)
            times.setdefault(key, []).append(hello.time_epoch)
        for key, members in groups.items():
            regular, pace = periodic(times[key])
            if regular:
                host, path = key
                for found in members:
                    yield found.evidence(
                        f"{len(members)} requests to {host} {path}, every {pace:.1f} s"
                    )
