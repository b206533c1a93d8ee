"""Behaviour only a real HTTP server shows: the upload limit enforced while bytes arrive."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from .conftest import UPLOAD_LIMIT, LiveServer, running

# The kernel buffers on both ends of the upload are the test's own, not the host's autotuned
# ones (which may hold many MiB), so what can be in flight past the limit is known.
BUFFER = 128 << 10


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.fixture
def small_buffer_server(app: FastAPI) -> Iterator[LiveServer]:
    with running(app, receive_buffer=BUFFER) as server:
        yield server


def test_oversized_chunked_upload_is_refused_midstream(
    small_buffer_server: LiveServer, token: str
) -> None:
    """No Content-Length: the server reads, counts, and answers 413 long before the end."""
    live_server = small_buffer_server
    total_chunks = 4000  # 4000 x 16 KiB = 64 MiB, a thousand times the limit
    head = (
        "POST /api/v1/tasks HTTP/1.1\r\n"
        f"Host: {live_server.host}:{live_server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    preamble = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        sock.settimeout(10)
        sock.connect((live_server.host, live_server.port))
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(preamble), preamble))
        payload = b"C" * (16 << 10)
        chunk = b"%x\r\n%s\r\n" % (len(payload), payload)
        try:
            for _ in range(total_chunks):
                sock.sendall(chunk)
                sent += len(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after answering: what we want
        status = _read_status(sock)
    assert status == 413
    # What was sent past the limit is what the two kernel buffers (each at most twice the size
    # asked for, bookkeeping included) and the server's reads in flight held.
    in_flight = 2 * BUFFER + 2 * BUFFER + (1 << 20)
    assert sent <= UPLOAD_LIMIT + in_flight < total_chunks * len(payload), sent


def test_unauthenticated_upload_is_refused_before_the_body(live_server: LiveServer) -> None:
    head = (
        "POST /api/v1/tasks HTTP/1.1\r\n"
        f"Host: {live_server.host}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    ).encode()
    with socket.create_connection((live_server.host, live_server.port), timeout=10) as sock:
        sock.sendall(head)
        assert _read_status(sock) == 401
