"""Random bytes thrown at every TCP service: no handler error, and everything still answers."""

from __future__ import annotations

import random
import socket

import pytest

from aasee.hooks.fakenet import FakeInternet

from .helpers import SERVICE_ADDRESS, connect, recv_all, recv_until

pytestmark = pytest.mark.timeout(60)

SERVICES = ("http", "https", "smtp", "smtps", "ftp", "irc", "ircs", "catchall_tcp")
PREFIXES = (b"", b"GET / HTTP/1.1\r\n", b"EHLO x\r\nAUTH PLAIN ", b"USER a\r\nPASS b\r\nSTOR ")


def test_random_bytes_do_not_break_any_service(fakenet: FakeInternet) -> None:
    generator = random.Random(20240115)
    for service in SERVICES:
        for round_ in range(12):
            noise = generator.randbytes(generator.choice((1, 17, 300, 5000, 70000)))
            if round_ % 3 == 0:
                noise = noise.replace(b"\n", b"\r\n")  # line-shaped garbage
            payload = PREFIXES[round_ % len(PREFIXES)] + noise
            with socket.create_connection(
                (SERVICE_ADDRESS, fakenet.ports[service][0]), timeout=5
            ) as sock:
                sock.settimeout(0.5)
                try:
                    sock.sendall(payload)
                    sock.shutdown(socket.SHUT_WR)
                    recv_all(sock)
                except (TimeoutError, ConnectionError):
                    pass
    stats = fakenet.stats()
    assert {name: s["errors"] for name, s in stats.items() if s.get("errors")} == {}
    assert "loop" not in stats
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 200 ")
    with connect(fakenet, "smtp") as sock:
        assert recv_until(sock, b"\r\n").startswith(b"220 ")
