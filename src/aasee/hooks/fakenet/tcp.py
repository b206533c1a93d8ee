"""A TCP listener: accept loop, per-service connection cap, timeouts and crash containment.

Sockets are accepted by hand rather than with ``asyncio.start_server`` so the cap applies
before any TLS work and handshake failures reach us (and the log) instead of the loop's
exception handler.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

from aasee.hooks.fakenet.conn import (
    CURRENT_CONN,
    Conn,
    ConnInfo,
    LineTooLong,
    conn_info,
    open_accepted,
)
from aasee.hooks.fakenet.runtime import Runtime

Handler = Callable[[Conn], Awaitable[None]]

# Errors that are just a client going away or misbehaving at the transport level.
DISCONNECTS = (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, LineTooLong)


def bind_socket(kind: socket.SocketKind, address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class TcpListener:
    """Serves ``handler`` on ``address:port``; ``tls`` wraps every connection in TLS first."""

    def __init__(
        self,
        runtime: Runtime,
        service: str,
        handler: Handler,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.runtime = runtime
        self.service = service
        self.handler = handler
        self.tls = tls
        self.port = 0
        self._sock: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = 0
        self._stopping = False
        runtime.stats.ensure(service)
        if tls is not None:
            runtime.stats.add(service, "tls_errors", 0)

    def bind(self, address: str, port: int) -> int:
        self._sock = bind_socket(socket.SOCK_STREAM, address, port)
        self.port = int(self._sock.getsockname()[1])
        return self.port

    def start(self) -> None:
        assert self._sock is not None, "bind() first"
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop())

    async def close(self) -> None:
        self._stopping = True
        if self._accept_task is not None:
            self._accept_task.cancel()
            await asyncio.gather(self._accept_task, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        stats = self.runtime.stats
        while True:
            try:
                sock, _ = await loop.sock_accept(self._sock)
            except OSError as exc:
                # out of fds or a connection reset before accept: keep serving the others
                stats.error(self.service, "accept", exc)
                await asyncio.sleep(0.05)
                continue
            stats.add(self.service, "connections")
            if self._active >= self.runtime.limits.max_connections:
                stats.add(self.service, "rejected")
                sock.close()
                continue
            task = loop.create_task(self._serve(sock))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket) -> None:
        stats = self.runtime.stats
        limits = self.runtime.limits
        self._active += 1
        stats.add(self.service, "active")
        writer: asyncio.StreamWriter | None = None
        info: ConnInfo | None = None
        try:
            async with asyncio.timeout(limits.connection_timeout):
                info = conn_info(self.runtime, self.service, sock)
                info.tls = self.tls is not None
                CURRENT_CONN.set(info)
                try:
                    reader, writer = await open_accepted(
                        sock, limits.max_header_bytes, self.tls, limits.tls_handshake_timeout
                    )
                except (OSError, ValueError) as exc:
                    if self.tls is not None:
                        self._tls_failed(info, exc)
                    return
                await self.handler(Conn(self.runtime, info, reader, writer))
        except TimeoutError:
            stats.add(self.service, "timeouts")
        except DISCONNECTS:
            pass
        except OSError as exc:
            # getpeername on an already reset socket and similar races
            if info is not None:
                stats.error(self.service, "socket", exc)
        except Exception as exc:
            # a handler bug or a client input nobody anticipated: contain it here
            stats.error(self.service, "handler", exc)
            fields = info.fields() if info is not None else {}
            self.runtime.log.record(
                self.service,
                "error",
                {**fields, "error": type(exc).__name__, "message": str(exc)[:500]},
            )
        finally:
            self._active -= 1
            stats.add(self.service, "active", -1)
            if writer is not None:
                await self._close_writer(writer)
            sock.close()

    def _tls_failed(self, info: ConnInfo, exc: BaseException) -> None:
        self.runtime.stats.add(self.service, "tls_errors")
        self.runtime.log.record(
            self.service,
            "tls_error",
            {**info.fields(), "error": type(exc).__name__, "message": str(exc)[:500]},
        )

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.transport.abort()
            return
        writer.close()
        try:
            # a client that stops reading must not keep the socket (and fd) alive
            async with asyncio.timeout(2.0):
                await writer.wait_closed()
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception:
            writer.transport.abort()
