"""A UDP listener that reads datagrams straight off a non-blocking socket.

The socket is driven with ``recvmsg`` from a loop reader callback rather than a
DatagramProtocol so ancillary data (the original destination under TPROXY) is available.
Each wake-up reads a bounded batch so a flood cannot starve the TCP services.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from aasee.hooks.fakenet.runtime import Runtime
from aasee.hooks.fakenet.tcp import bind_socket

# linux/in.h and linux/in6.h; the socket module does not export them
IP_RECVORIGDSTADDR = 20
IPV6_RECVORIGDSTADDR = 74
BATCH = 64
MAX_DATAGRAM = 65535

# (data, client, local address, original destination or None) -> reply or None
DatagramHandler = Callable[
    [bytes, tuple[str, int], tuple[str, int], tuple[str, int] | None], bytes | None
]


def _parse_origdst(ancdata: list[tuple[int, int, bytes]], family: int) -> tuple[str, int] | None:
    for level, kind, data in ancdata:
        if family == socket.AF_INET and (level, kind) == (socket.SOL_IP, IP_RECVORIGDSTADDR):
            if len(data) >= 8:
                return socket.inet_ntop(socket.AF_INET, data[4:8]), int.from_bytes(data[2:4], "big")
        if family == socket.AF_INET6 and (level, kind) == (
            socket.IPPROTO_IPV6,
            IPV6_RECVORIGDSTADDR,
        ):
            if len(data) >= 24:
                return socket.inet_ntop(socket.AF_INET6, data[8:24]), int.from_bytes(
                    data[2:4], "big"
                )
    return None


class UdpListener:
    def __init__(self, runtime: Runtime, service: str, handler: DatagramHandler) -> None:
        self.runtime = runtime
        self.service = service
        self.handler = handler
        self.port = 0
        self._sock: socket.socket | None = None
        self._local: tuple[str, int] = ("", 0)
        self._origdst = False
        self._loop: asyncio.AbstractEventLoop | None = None
        runtime.stats.ensure(service)
        runtime.stats.add(service, "datagrams", 0)

    def bind(self, address: str, port: int, original_dst: bool = False) -> int:
        sock = bind_socket(socket.SOCK_DGRAM, address, port)
        self._sock = sock
        local = sock.getsockname()
        self._local = (str(local[0]), int(local[1]))
        self.port = self._local[1]
        if original_dst:
            try:
                if sock.family == socket.AF_INET:
                    sock.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1)
                self._origdst = True
            except OSError:
                pass
        return self.port

    def start(self) -> None:
        assert self._sock is not None, "bind() first"
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._ready)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None

    def _ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        stats = self.runtime.stats
        ancsize = socket.CMSG_SPACE(28) if self._origdst else 0
        for _ in range(BATCH):
            try:
                data, ancdata, _flags, peer = sock.recvmsg(MAX_DATAGRAM, ancsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                stats.error(self.service, "recv", exc)
                return
            stats.add(self.service, "datagrams")
            stats.add(self.service, "bytes_in", len(data))
            original = _parse_origdst(ancdata, sock.family) if self._origdst else None
            if original == self._local:
                # with DNAT the kernel reports the rewritten address: nothing original about it
                original = None
            client = (str(peer[0]), int(peer[1]))
            try:
                reply = self.handler(data, client, self._local, original)
            except Exception as exc:
                # one bad datagram must not take the listener down
                stats.error(self.service, "handler", exc)
                self.runtime.log.record(
                    self.service,
                    "error",
                    {
                        "client_ip": client[0],
                        "client_port": client[1],
                        "error": type(exc).__name__,
                        "message": str(exc)[:500],
                    },
                )
                continue
            if reply:
                try:
                    sock.sendto(reply, peer)
                    stats.add(self.service, "bytes_out", len(reply))
                except OSError as exc:
                    # a full send buffer drops the reply, as a busy server's network would
                    stats.error(self.service, "send", exc)
