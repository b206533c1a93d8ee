"""Starting and stopping: sockets all closed, the async interface, the JSONL log and its caps."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from aasee.hooks.fakenet import FakeInternet, FakeNetConfig
from aasee.hooks.fakenet.eventlog import EventLog, Stats, clean

from .helpers import SERVICE_ADDRESS, connect, event, make_config, records, recv_all, wait_record

pytestmark = pytest.mark.timeout(30)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_closes_every_socket(cert_dir: Path, tmp_path: Path) -> None:
    before = _fds()
    # Every timeout far past this module's 30 s: a stop that waited for the idle connections
    # to time out would never return in time.
    patient = {
        "connection_timeout": 3600.0,
        "idle_timeout": 3600.0,
        "keepalive_timeout": 3600.0,
        "catchall_timeout": 3600.0,
    }
    internet = FakeInternet(make_config(cert_dir, limits=patient), tmp_path / "log.jsonl")
    internet.start_in_thread()
    idle = [connect(internet, service) for service in ("http", "smtp", "irc", "catchall_tcp")]
    deadline = time.monotonic() + 5
    while sum(s["active"] for s in internet.stats().values() if "active" in s) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    internet.stop_in_thread()
    for sock in idle:
        sock.settimeout(5)
        recv_all(sock)  # the server side is gone: end of stream or reset
        sock.close()
    assert _fds() == before
    # the ports are free again
    for port in internet.ports["http"]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((SERVICE_ADDRESS, port))


def test_async_interface(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "async.jsonl"

    async def scenario() -> bytes:
        async with FakeInternet(make_config(cert_dir), log) as internet:
            reader, writer = await asyncio.open_connection(
                SERVICE_ADDRESS, internet.ports["http"][0]
            )
            writer.write(b"GET /async HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            return data

    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200 ")
    assert [r["event"] for r in records(log)][-1] == "stopped"


def test_log_is_jsonl_with_service_and_time(fakenet: FakeInternet, log_path: Path) -> None:
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET /\xc3\x28bad-utf8 HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
    with connect(fakenet, "catchall_tcp") as sock:
        sock.sendall(b"hello")
    wait_record(log_path, event("catchall_tcp", "connection"))
    record = wait_record(log_path, event("http", "request"))
    assert record["host"] == "\\xff\\xfe"
    assert record["target"] == "/\\xc3(bad-utf8"
    lines = log_path.read_bytes().splitlines()
    assert len(lines) >= 3
    for line in lines:
        parsed = json.loads(line)
        assert isinstance(parsed["service"], str)
        assert isinstance(parsed["event"], str)
        assert datetime.fromisoformat(parsed["time"]).utcoffset() is not None


def test_clean_caps_and_escapes() -> None:
    assert clean(b"ok\xff", 100) == "ok\\xff"
    assert clean(b"a" * 1000, 10) == "a" * 10
    assert clean("x" * 50, 5) == "xxxxx"
    assert clean("\udcff", 10) == "\\udcff"


def test_log_caps(tmp_path: Path) -> None:
    stats = Stats()
    log = EventLog(tmp_path / "caps.jsonl", stats, full_bytes=2000, max_bytes=4000)
    log.open()
    for index in range(100):
        log.record("http", "request", {"n": index}, {"body_preview": "b" * 500})
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "caps.jsonl").read_text().splitlines()]
    assert (tmp_path / "caps.jsonl").stat().st_size <= 4000
    assert "body_preview" in lines[0]
    assert lines[-1].get("slimmed") is True and "body_preview" not in lines[-1]
    counters = stats.snapshot()["log"]
    assert counters["dropped"] > 0 and counters["slimmed"] > 0
    assert counters["records"] + counters["dropped"] == 100


def test_log_caps_apply_to_a_running_server(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "small.jsonl"
    config = make_config(cert_dir, limits={"log_full_bytes": 3000, "log_max_bytes": 6000})
    with FakeInternet(config, log) as internet:
        for _ in range(30):
            with connect(internet, "http") as sock:
                sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: 3000\r\n\r\n" + b"p" * 3000)
                recv_all(sock)
        assert internet.stats()["http"]["connections"] == 30
    assert log.stat().st_size <= 6000
    assert internet.stats()["log"]["dropped"] > 0


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FakeNetConfig.model_validate(
            {"dns_address": "127.0.0.1", "service_address": "::1", "cert_dir": tmp_path}
        )
    with pytest.raises(ValueError):
        make_config(tmp_path, http_port=70000)
    with pytest.raises(ValueError):
        make_config(tmp_path, tls_ca_name="evil/CN=x")
    with pytest.raises(ValueError):
        make_config(tmp_path, http_response={"content_type": "text/html\r\nX: y"})
    config = FakeNetConfig.model_validate(
        {"dns_address": "127.0.0.2", "service_address": "127.0.0.1", "cert_dir": tmp_path}
    )
    assert str(config.a_answer) == "127.0.0.1"
    assert config.dns_port == 53 and config.smtp_ports == (25, 587)


def test_certificates_are_reused(cert_dir: Path, tmp_path: Path) -> None:
    from aasee.hooks.fakenet import ensure_certificates

    first = ensure_certificates(tmp_path / "c", "Test Root", "localhost")
    stamp = first.server_chain.read_bytes()
    again = ensure_certificates(tmp_path / "c", "Test Root", "localhost")
    assert again.server_chain.read_bytes() == stamp
    # a lost server certificate is re-issued by the same CA
    ca = first.ca_cert.read_bytes()
    first.server_chain.unlink()
    ensure_certificates(tmp_path / "c", "Test Root", "localhost")
    assert first.ca_cert.read_bytes() == ca
    assert first.server_chain.read_bytes() != stamp
    assert oct(first.ca_key.stat().st_mode & 0o777) == "0o600"


def test_bind_failure_leaves_nothing_open(cert_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((SERVICE_ADDRESS, 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = _fds()
        internet = FakeInternet(make_config(cert_dir, irc_port=port), tmp_path / "x.jsonl")
        with pytest.raises(OSError):
            internet.start_in_thread()
        assert _fds() == before
