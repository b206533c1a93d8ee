"""Catch-all TCP/UDP: first bytes recorded, banner sent, connection cap enforced."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest

from aasee.hooks.fakenet import FakeInternet

from .helpers import SERVICE_ADDRESS, connect, event, make_config, recv_all, wait_record

pytestmark = pytest.mark.timeout(30)


def test_tcp_first_bytes_are_recorded(fakenet: FakeInternet, log_path: Path) -> None:
    payload = b"\x00BOT-HELLO\xff\xfe v1\r\n"
    with connect(fakenet, "catchall_tcp") as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""
    record = wait_record(log_path, event("catchall_tcp", "connection"))
    assert record["captured"] == len(payload)
    assert record["sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["data"] == "\x00BOT-HELLO\\xff\\xfe v1\r\n"
    assert record["ended"] == "closed"
    # no NAT in a unit test: there is no original destination to report
    assert "original_dst_ip" not in record


def test_tcp_capture_stops_at_the_limit(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "limit.jsonl"
    config = make_config(
        cert_dir,
        catchall_banner="SSH-2.0-OpenSSH_9.6\r\n",
        limits={"catchall_capture_bytes": 100, "catchall_timeout": 2.0},
    )
    with FakeInternet(config, log) as internet, connect(internet, "catchall_tcp") as sock:
        assert sock.recv(100) == b"SSH-2.0-OpenSSH_9.6\r\n"
        sock.sendall(b"A" * 5000)
        recv_all(sock)
        record = wait_record(log, event("catchall_tcp", "connection"))
    assert record["captured"] == 100
    assert record["ended"] == "limit"


def test_tcp_silent_client_times_out(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "silent.jsonl"
    config = make_config(cert_dir, limits={"catchall_timeout": 0.3})
    # The server's timeout closes the connection: the client would give up after its own 5 s.
    with FakeInternet(config, log) as internet, connect(internet, "catchall_tcp", 5) as sock:
        assert recv_all(sock) == b""
        record = wait_record(log, event("catchall_tcp", "connection"))
    assert record["captured"] == 0 and record["ended"] == "timeout"


def test_connection_cap(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "cap.jsonl"
    config = make_config(cert_dir, limits={"max_connections": 2, "catchall_timeout": 600.0})
    with FakeInternet(config, log) as internet:
        held = [connect(internet, "catchall_tcp") for _ in range(2)]
        try:
            deadline = time.monotonic() + 5
            while internet.stats()["catchall_tcp"]["active"] < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            # Closed at once, not after the server's 600 s timeout: the client gives up
            # after its own 5 s.
            with connect(internet, "catchall_tcp", 5) as extra:
                assert recv_all(extra) == b""
            stats = internet.stats()["catchall_tcp"]
            assert stats["rejected"] == 1
            assert stats["connections"] == 3
            # the cap is per service: others still work
            with connect(internet, "http") as web:
                web.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert recv_all(web).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()


def test_udp_datagrams_are_recorded(fakenet: FakeInternet, log_path: Path) -> None:
    port = fakenet.ports["catchall_udp"][0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\x01\x02beacon\xff", (SERVICE_ADDRESS, port))
        sock.sendto(b"x" * 9000, (SERVICE_ADDRESS, port))
    first = wait_record(log_path, event("catchall_udp", "datagram", size=9))
    assert first["data"] == "\x01\x02beacon\\xff"
    big = wait_record(log_path, event("catchall_udp", "datagram", size=9000))
    assert len(big["data"]) == 4096
    assert big["sha256"] == hashlib.sha256(b"x" * 9000).hexdigest()
    assert fakenet.stats()["catchall_udp"]["datagrams"] == 2
