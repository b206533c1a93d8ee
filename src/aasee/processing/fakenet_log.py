"""What the fake internet saw that the capture cannot show: requests made over TLS.

The capture holds HTTPS only as ciphertext (its ClientHello gives the SNI); the fake HTTPS
service decrypted the requests and recorded them in ``fakenet.jsonl``. This module reads
that log (bounded, line by line, tolerant of garbage: the values came from the guest) and
turns its HTTPS requests into ``network.http`` entries, attributed to the process whose
captured flow has the same client port.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .models import Flow, HttpRequest
from .text import clean_text

MAX_LOG_BYTES = 64 << 20
MAX_LINE = 1 << 20
MAX_REQUESTS = 20_000


def _records(path: str | os.PathLike[str], errors: list[str]) -> Iterator[dict[str, Any]]:
    read = 0
    with open(path, "rb") as handle:
        for raw in handle:
            read += len(raw)
            if read > MAX_LOG_BYTES:
                errors.append("fake internet log: larger than 64 MiB, the rest was not read")
                return
            if len(raw) > MAX_LINE:
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _epoch(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: Any, limit: int = 2048) -> str | None:
    return clean_text(str(value))[:limit] if value is not None else None


def https_requests(
    path: str | os.PathLike[str], flows: list[Flow], errors: list[str]
) -> list[HttpRequest]:
    """HTTPS requests from the fake internet's log, with the pid of their captured flow."""
    by_port = {
        f.src_port: f for f in flows if f.proto == "tcp" and f.src_port is not None and f.pid
    }
    requests: list[HttpRequest] = []
    for record in _records(path, errors):
        if record.get("service") != "https" or record.get("event") != "request":
            continue
        if len(requests) >= MAX_REQUESTS:
            errors.append("fake internet log: more HTTPS requests than the report keeps")
            break
        epoch = _epoch(record.get("time"))
        client_port = _int(record.get("client_port"))
        if epoch is None or not 0 <= client_port <= 65535:
            continue
        flow = by_port.get(client_port)
        host = _str(record.get("host"), 255)
        target = _str(record.get("path")) or "/"
        try:
            requests.append(
                HttpRequest(
                    time_epoch=epoch,
                    time_utc=_str(record.get("time"), 64),
                    src_ip=_str(record.get("client_ip"), 64) or "",
                    src_port=client_port,
                    dst_ip=_str(record.get("original_dst_ip") or record.get("server_ip"), 64) or "",
                    dst_port=_int(record.get("original_dst_port") or record.get("server_port")),
                    method=_str(record.get("method"), 32) or "",
                    version=_str(record.get("version"), 16) or "",
                    host=host,
                    path=target,
                    url=f"https://{host or '?'}{target}",
                    user_agent=_str(record.get("user_agent")),
                    content_type=_str(record.get("content_type"), 255),
                    body_size=max(_int(record.get("body_size")), 0),
                    body_sha256=_str(record.get("body_sha256"), 64),
                    body_truncated=record.get("body_complete") is False,
                    status=_int(record.get("status")) or None,
                    pid=flow.pid if flow is not None else None,
                    process=flow.process if flow is not None else None,
                )
            )
        except ValueError:
            continue  # a field out of range: the guest's word, not ours to keep
    return requests
