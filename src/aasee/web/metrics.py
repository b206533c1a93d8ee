"""Metrics in the Prometheus text exposition format (version 0.0.4).

Two sources: the service's own figures (``TaskService.metrics()``: counts per status,
durations, ...), flattened generically so new figures appear without code here, and this
web process's request counters and latency histogram, kept by ``HttpMetricsMiddleware``
per route template (never per raw path, which would let clients grow the label set).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
MAX_DEPTH = 4
# Label names for the service's figures whose keys are not self-describing.
LABEL_NAMES = {"tasks": "status", "queue_depth": "queue"}
SUMMARY_KEYS = frozenset({"mean", "median", "max", "min", "p50", "p95", "p99"})


class HttpMetrics:
    """Request counts and a latency histogram per (method, route, status), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = {}
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.counts[key] = self.counts.get(key, 0) + 1
            series = (method, route)
            counts = self.buckets.setdefault(series, [0] * (len(BUCKETS) + 1))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1
            self.sums[series] = self.sums.get(series, 0.0) + seconds

    def render(self) -> list[str]:
        with self._lock:
            lines = [
                "# HELP aasee_http_requests_total HTTP requests answered by this web process.",
                "# TYPE aasee_http_requests_total counter",
            ]
            for (method, route, status), count in sorted(self.counts.items()):
                labels = _labels({"method": method, "route": route, "status": status})
                lines.append(f"aasee_http_requests_total{labels} {count}")
            lines += [
                "# HELP aasee_http_request_seconds Time to answer HTTP requests.",
                "# TYPE aasee_http_request_seconds histogram",
            ]
            for (method, route), counts in sorted(self.buckets.items()):
                base = {"method": method, "route": route}
                for bound, count in zip((*BUCKETS, math.inf), counts, strict=True):
                    le = "+Inf" if bound == math.inf else repr(bound)
                    labels = _labels({**base, "le": le})
                    lines.append(f"aasee_http_request_seconds_bucket{labels} {count}")
                lines.append(
                    f"aasee_http_request_seconds_sum{_labels(base)} {self.sums[(method, route)]}"
                )
                lines.append(f"aasee_http_request_seconds_count{_labels(base)} {counts[-1]}")
            return lines


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                scope["method"], str(template), status, time.perf_counter() - start
            )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def _metric_name(parts: list[str]) -> str:
    return NAME_UNSAFE.sub("_", "aasee_" + "_".join(parts)).lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _flatten(figures: Mapping[str, Any], path: list[str], out: dict[str, list[str]]) -> None:
    """Numbers become gauges; a mapping of numbers becomes one gauge labelled by its keys."""
    for key, value in figures.items():
        here = [*path, str(key)]
        number = _number(value)
        if number is not None:
            out.setdefault(_metric_name(here), []).append(f"{_metric_name(here)} {number:g}")
        elif isinstance(value, Mapping) and len(here) < MAX_DEPTH:
            leaves = {str(k): _number(v) for k, v in value.items()}
            if value and all(v is not None for v in leaves.values()):
                leaves_known: dict[str, float] = {k: v for k, v in leaves.items() if v is not None}
                name = _metric_name(here)
                label = LABEL_NAMES.get(str(key)) or (
                    "stat" if set(leaves) <= SUMMARY_KEYS else _singular(str(key))
                )
                out.setdefault(name, []).extend(
                    f"{name}{_labels({label: k})} {v:g}" for k, v in sorted(leaves_known.items())
                )
            else:
                _flatten(value, here, out)


def _singular(key: str) -> str:
    """A label name for a mapping's keys: "by_status" and "statuses" give "status"."""
    word = NAME_UNSAFE.sub("_", key).lower() or "key"
    if word.startswith("by_") and len(word) > 3:
        return word[3:]
    if word.endswith("uses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us")) and len(word) > 2:
        return word[:-1]
    return word


def render_prometheus(figures: Mapping[str, Any], http: HttpMetrics) -> str:
    grouped: dict[str, list[str]] = {}
    _flatten(figures, [], grouped)
    lines: list[str] = []
    for name, samples in sorted(grouped.items()):
        lines.append(f"# TYPE {name} gauge")
        lines.extend(samples)
    lines.extend(http.render())
    return "\n".join(lines) + "\n"
