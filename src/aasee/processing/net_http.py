"""Finding HTTP/1.x requests and response status codes in the start of TCP streams.

Works on whatever prefix of a stream was captured: a request cut short still yields its
request line and the headers that arrived, and a body counts only the bytes captured.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .text import decode_bytes

__all__ = ["HttpRequestData", "parse_requests", "parse_statuses"]

MAX_REQUESTS = 256
MAX_HEADERS = 128
MAX_TEXT = 2048
_REQUEST_LINE = re.compile(rb"([A-Z][A-Z0-9_-]{1,19}) ([^\s]{1,8192}) (HTTP/1\.[0-9])\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})(?:[ \t][^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[^\r\n]*\r?\n")
_WANTED = frozenset({b"host", b"user-agent", b"content-type", b"content-length"})


@dataclass
class HttpRequestData:
    offset: int
    method: str
    target: str
    version: str
    host: str | None
    user_agent: str | None
    content_type: str | None
    body_size: int
    body_sha256: str | None
    body_truncated: bool


def _text(raw: bytes) -> str:
    return decode_bytes(raw[:MAX_TEXT])


def _headers(block: bytes) -> tuple[dict[bytes, bytes], bool]:
    """The first value of the headers this module uses, and whether the body is chunked."""
    found: dict[bytes, bytes] = {}
    chunked = False
    for line in block.split(b"\n", MAX_HEADERS)[:MAX_HEADERS]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().lower()
        value = value.strip()
        if key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif key in _WANTED and key not in found:
            found[key] = value
    return found, chunked


def _length(value: bytes | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _dechunk(data: bytes, start: int) -> tuple[bytes, int, bool]:
    """Body bytes of a chunked message, where it ends, and whether it was complete."""
    parts: list[bytes] = []
    position = start
    while True:
        match = _CHUNK_SIZE.match(data, position)
        if match is None:
            return b"".join(parts), len(data), False
        size = int(match.group(1), 16)
        position = match.end()
        if size == 0:
            end = _HEAD_END.search(data, position - 2)
            if end is None:
                return b"".join(parts), len(data), False
            return b"".join(parts), end.end(), True
        parts.append(data[position : position + size])
        if position + size > len(data):
            return b"".join(parts), len(data), False
        position += size
        if data.startswith(b"\r\n", position):
            position += 2
        elif data.startswith(b"\n", position):
            position += 1


def _head(data: bytes, line: re.Match[bytes]) -> tuple[bytes, int, bool]:
    """The header block after a start line, where the body starts, and if it is complete."""
    start = line.end()
    # Search from the start line's own line break, so that no headers at all still match.
    newline = start - 2 if data[start - 2 : start] == b"\r\n" else start - 1
    end = _HEAD_END.search(data, newline)
    if end is None:
        return data[start:], len(data), False
    return data[start : max(end.start(), start)], end.end(), True


def parse_requests(data: bytes) -> list[HttpRequestData]:
    """The requests at the start of a client stream, in order, until anything not HTTP."""
    requests: list[HttpRequestData] = []
    position = 0
    while position < len(data) and len(requests) < MAX_REQUESTS:
        match = _REQUEST_LINE.match(data, position)
        if match is None:
            break
        block, body_start, complete = _head(data, match)
        headers, chunked = _headers(block)
        declared = _length(headers.get(b"content-length"))
        truncated = not complete
        if not complete:
            body, next_position = b"", len(data)
        elif chunked:
            body, next_position, finished = _dechunk(data, body_start)
            truncated = not finished
        elif declared:
            body = data[body_start : body_start + declared]
            next_position = body_start + declared
            truncated = len(body) < declared
        else:
            body, next_position = b"", body_start
        host = headers.get(b"host")
        agent = headers.get(b"user-agent")
        kind = headers.get(b"content-type")
        requests.append(
            HttpRequestData(
                offset=position,
                method=match.group(1).decode("ascii"),
                target=_text(match.group(2)),
                version=match.group(3).decode("ascii"),
                host=None if host is None else _text(host),
                user_agent=None if agent is None else _text(agent),
                content_type=None if kind is None else _text(kind),
                body_size=len(body),
                body_sha256=hashlib.sha256(body).hexdigest() if body else None,
                body_truncated=truncated,
            )
        )
        if truncated:
            break
        position = next_position
    return requests


def parse_statuses(data: bytes, methods: list[str]) -> list[int | None]:
    """The final status of each request (``methods`` in order) that the server stream holds."""
    statuses: list[int | None] = []
    position = 0
    while position < len(data) and len(statuses) < len(methods):
        match = _STATUS_LINE.match(data, position)
        if match is None:
            break
        status = int(match.group(1))
        block, body_start, complete = _head(data, match)
        if not complete:
            if status >= 200:
                statuses.append(status)
            break
        headers, chunked = _headers(block)
        if status < 200:
            # An interim response (100 Continue): the final one follows.
            position = body_start
            continue
        method = methods[len(statuses)]
        statuses.append(status)
        if method == "HEAD" or status in (204, 304):
            position = body_start
        elif chunked:
            _, position, finished = _dechunk(data, body_start)
            if not finished:
                break
        else:
            declared = _length(headers.get(b"content-length"))
            if declared is None:
                # The body runs to the end of the connection: no further response here.
                break
            position = body_start + declared
    return statuses
