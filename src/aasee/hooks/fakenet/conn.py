"""One accepted TCP connection: bounded, timed, counted stream I/O plus its identity.

Every read waits at most ``idle_timeout``, every line has a length cap, and bytes are
counted into the service's stats, so protocol handlers never deal with those concerns.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from aasee.hooks.fakenet.eventlog import clean
from aasee.hooks.fakenet.runtime import Runtime

# netfilter's getsockopt for the pre-DNAT destination (linux/netfilter_ipv4.h, ip6_tables.h)
SO_ORIGINAL_DST = 80

# The TLS SNI callback runs inside the handshake, in a context copied from the task that
# wrapped the socket; this is how it finds the connection the name belongs to.
CURRENT_CONN: contextvars.ContextVar[ConnInfo | None] = contextvars.ContextVar(
    "fakenet_conn", default=None
)


class LineTooLong(Exception):
    """A client line exceeded its cap; the connection is answered with an error and closed."""


@dataclass
class ConnInfo:
    conn_id: int
    service: str
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    original_dst: tuple[str, int] | None = None
    tls: bool = False
    sni: str | None = None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "conn_id": self.conn_id,
            "client_ip": self.client_ip,
            "client_port": self.client_port,
            "server_ip": self.server_ip,
            "server_port": self.server_port,
            "tls": self.tls,
        }
        if self.original_dst is not None:
            fields["original_dst_ip"], fields["original_dst_port"] = self.original_dst
        if self.tls:
            fields["sni"] = self.sni
        return fields


def original_dst(sock: socket.socket) -> tuple[str, int] | None:
    """Where the client meant to connect before DNAT; None without a conntrack entry."""
    try:
        if sock.family == socket.AF_INET:
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big")
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), int.from_bytes(raw[2:4], "big")
    except (OSError, ValueError):
        pass
    return None


def conn_info(runtime: Runtime, service: str, sock: socket.socket) -> ConnInfo:
    peer = sock.getpeername()
    local = sock.getsockname()
    return ConnInfo(
        conn_id=runtime.next_id(),
        service=service,
        client_ip=str(peer[0]),
        client_port=int(peer[1]),
        server_ip=str(local[0]),
        server_port=int(local[1]),
        original_dst=original_dst(sock),
    )


async def open_accepted(
    sock: socket.socket, limit: int, tls: ssl.SSLContext | None, handshake_timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over an already accepted socket, after the TLS handshake when ``tls`` is set."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    writers: list[asyncio.StreamWriter] = []
    # a connected-callback makes the protocol server-side, which StreamWriter.start_tls needs
    protocol = asyncio.StreamReaderProtocol(reader, lambda _r, w: writers.append(w))
    await loop.connect_accepted_socket(
        lambda: protocol,
        sock,
        ssl=tls,
        ssl_handshake_timeout=handshake_timeout if tls is not None else None,
    )
    return reader, writers[0]


class BodySink:
    """Consumes a transfer: hashes everything, keeps only the first ``keep`` bytes."""

    def __init__(self, keep: int) -> None:
        self.size = 0
        self._keep = keep
        self._hash = hashlib.sha256()
        self._head = bytearray()

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self._hash.update(data)
        room = self._keep - len(self._head)
        if room > 0:
            self._head += data[:room]

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class Conn:
    """Stream I/O for protocol handlers with the caps and timeouts of the runtime."""

    def __init__(
        self,
        runtime: Runtime,
        info: ConnInfo,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.runtime = runtime
        self.info = info
        self.reader = reader
        self.writer = writer
        self.limits = runtime.limits
        self.idle = runtime.limits.idle_timeout

    @property
    def service(self) -> str:
        return self.info.service

    def _count_in(self, size: int) -> None:
        if size:
            self.runtime.stats.add(self.service, "bytes_in", size)

    async def read(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; b"" at end of stream."""
        async with asyncio.timeout(self.idle if timeout is None else timeout):
            data = await self.reader.read(size)
        self._count_in(len(data))
        return data

    async def readexactly(self, size: int, timeout: float | None = None) -> bytes | None:
        """Exactly ``size`` bytes, or None if the stream ends first."""
        try:
            async with asyncio.timeout(self.idle if timeout is None else timeout):
                data = await self.reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            self._count_in(len(exc.partial))
            return None
        self._count_in(len(data))
        return data

    async def readline(self, limit: int, timeout: float | None = None) -> bytes:
        """One line including its newline (the last one may lack it); b"" at end of stream."""
        try:
            async with asyncio.timeout(self.idle if timeout is None else timeout):
                line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            line = exc.partial
        except asyncio.LimitOverrunError as exc:
            raise LineTooLong("line longer than the stream buffer") from exc
        self._count_in(len(line))
        if len(line) > limit:
            raise LineTooLong(f"line of {len(line)} bytes, limit {limit}")
        return line

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        self.runtime.stats.add(self.service, "bytes_out", len(data))
        async with asyncio.timeout(self.idle):
            await self.writer.drain()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade in place (SMTP STARTTLS); the caller must not have read past the command."""
        await self.writer.start_tls(
            context, ssl_handshake_timeout=self.limits.tls_handshake_timeout
        )
        self.info.tls = True

    async def linger(self, max_bytes: int = 1 << 20, timeout: float = 2.0) -> None:
        """Half-close and discard what the client still sends, so it gets to read our answer.

        Closing with unread input makes the kernel send a reset, which can destroy the
        error response before the client reads it.
        """
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
            discarded = 0
            async with asyncio.timeout(timeout):
                while discarded < max_bytes:
                    chunk = await self.reader.read(65536)
                    if not chunk:
                        break
                    discarded += len(chunk)
            self._count_in(discarded)
        except (TimeoutError, OSError, asyncio.LimitOverrunError):
            pass

    def record(
        self, event: str, fields: dict[str, Any], bulky: dict[str, Any] | None = None
    ) -> None:
        self.runtime.log.record(self.service, event, {**self.info.fields(), **fields}, bulky)

    def text(self, value: bytes | str, limit: int | None = None) -> str:
        """A client-supplied value capped for the log."""
        return clean(value, self.limits.max_field_chars if limit is None else limit)
