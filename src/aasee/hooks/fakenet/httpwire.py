"""HTTP/1.x request parsing on a Conn, strict and bounded.

The request line and headers share one byte budget (over it: 431), bodies are streamed into
a BodySink by Content-Length or chunked coding and cut off at a cap, so no request can
make the server hold more than a stream buffer of it in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aasee.hooks.fakenet.conn import BodySink, Conn, LineTooLong

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
VERSION = re.compile(rb"HTTP/1\.[0-9]")
TARGET_FORBIDDEN = re.compile(rb"[\x00-\x20\x7f]")
MAX_CHUNK_LINE = 4096
MAX_BLANK_LINES = 4
READ_SIZE = 65536


class HttpError(Exception):
    """The request cannot be served: answer ``status`` and close."""

    def __init__(self, status: int, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.raw = raw


class BodyTooLarge(Exception):
    """The body went past the cap; what was read so far is in the sink."""


class ClientGone(Exception):
    """The stream ended in the middle of a request."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw_line: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of a header, decoded as latin-1 (which cannot fail)."""
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower().encode()
        return [value.decode("latin-1") for key, value in self.headers if key.lower() == wanted]

    @property
    def keep_alive(self) -> bool:
        tokens = {item.strip().lower() for item in ",".join(self.get_all("connection")).split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


async def read_request(conn: Conn, first_byte_timeout: float) -> Request | None:
    """The next request's line and headers; None when the client closed between requests."""
    limits = conn.limits
    budget = limits.max_header_bytes
    line = b""
    for index in range(MAX_BLANK_LINES + 1):
        try:
            line = await conn.readline(budget, timeout=first_byte_timeout if index == 0 else None)
        except LineTooLong as exc:
            raise HttpError(400, "request line too long") from exc
        if not line:
            return None
        budget -= len(line)
        if line.strip(b"\r\n"):
            break
    else:
        raise HttpError(400, "only blank lines")
    request = parse_request_line(line)
    while True:
        try:
            line = await conn.readline(max(budget, 0))
        except LineTooLong as exc:
            raise HttpError(431, "request header fields too large") from exc
        if not line:
            raise ClientGone("end of stream in headers")
        budget -= len(line)
        if line in (b"\r\n", b"\n"):
            return request
        if len(request.headers) >= limits.max_headers:
            raise HttpError(431, "too many header fields")
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "obsolete header line folding", line)
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise HttpError(400, "malformed header field", line)
        request.headers.append((name, value.strip(b" \t\r\n")))


def parse_request_line(line: bytes) -> Request:
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line", line)
    method, target, version = parts
    if not TOKEN.fullmatch(method) or not VERSION.fullmatch(version):
        raise HttpError(400, "malformed request line", line)
    if not target or TARGET_FORBIDDEN.search(target):
        raise HttpError(400, "malformed request target", line)
    return Request(
        method=method.decode("ascii"),
        target=target.decode("latin-1"),
        version=version.decode("ascii"),
        raw_line=line,
    )


def body_framing(request: Request) -> tuple[bool, int]:
    """(chunked, content length) of the request body."""
    encoding = request.get_all("transfer-encoding")
    if encoding:
        codings = [item.strip().lower() for item in ",".join(encoding).split(",")]
        if codings[-1] != "chunked":
            raise HttpError(400, "unsupported transfer coding")
        return True, 0
    lengths = {value.strip() for value in request.get_all("content-length")}
    if not lengths:
        return False, 0
    if len(lengths) > 1:
        raise HttpError(400, "conflicting content lengths")
    value = lengths.pop()
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise HttpError(400, "invalid content length")
    return False, int(value)


async def _consume(conn: Conn, size: int, sink: BodySink, cap: int) -> None:
    remaining = size
    while remaining > 0:
        if sink.size >= cap:
            raise BodyTooLarge
        data = await conn.read(min(READ_SIZE, remaining, cap - sink.size))
        if not data:
            raise ClientGone("end of stream in body")
        sink.feed(data)
        remaining -= len(data)


async def read_body(conn: Conn, chunked: bool, length: int, sink: BodySink, cap: int) -> None:
    """Stream the body into ``sink``; BodyTooLarge once more than ``cap`` bytes would be read."""
    if not chunked:
        await _consume(conn, length, sink, cap)
        return
    while True:
        try:
            line = await conn.readline(MAX_CHUNK_LINE)
        except LineTooLong as exc:
            raise HttpError(400, "chunk size line too long") from exc
        if not line:
            raise ClientGone("end of stream in chunked body")
        digits = line.split(b";", 1)[0].strip()
        if not digits or len(digits) > 16 or not re.fullmatch(rb"[0-9A-Fa-f]+", digits):
            raise HttpError(400, "invalid chunk size", line)
        size = int(digits, 16)
        if size == 0:
            break
        await _consume(conn, size, sink, cap)
        try:
            end = await conn.readline(2)
        except LineTooLong as exc:
            raise HttpError(400, "chunk data longer than its size") from exc
        if end not in (b"\r\n", b"\n"):
            raise HttpError(400, "chunk not terminated")
    budget = conn.limits.max_header_bytes
    while True:  # trailer fields, ignored but bounded
        try:
            line = await conn.readline(max(budget, 0))
        except LineTooLong as exc:
            raise HttpError(431, "trailer fields too large") from exc
        if not line:
            raise ClientGone("end of stream in trailers")
        budget -= len(line)
        if line in (b"\r\n", b"\n"):
            return
