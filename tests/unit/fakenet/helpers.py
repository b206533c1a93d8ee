"""Shared test helpers: loopback-only configuration and polling the JSONL log."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aasee.hooks.fakenet import FakeInternet, FakeNetConfig

DNS_ADDRESS = "127.0.0.2"
SERVICE_ADDRESS = "127.0.0.1"
SINKHOLE = "10.66.0.1"
SINKHOLE6 = "fd00::66"

Record = dict[str, Any]


def make_config(cert_dir: Path, **overrides: Any) -> FakeNetConfig:
    """Every listener on a kernel-chosen port of a loopback address."""
    values: dict[str, Any] = {
        "dns_address": DNS_ADDRESS,
        "service_address": SERVICE_ADDRESS,
        "cert_dir": cert_dir,
        "dns_port": 0,
        "http_port": 0,
        "https_port": 0,
        "smtp_ports": (0,),
        "smtps_ports": (0,),
        "ftp_port": 0,
        "irc_port": 0,
        "ircs_port": 0,
        "catchall_tcp_port": 0,
        "catchall_udp_port": 0,
        "sinkhole_ipv4": SINKHOLE,
        "sinkhole_ipv6": SINKHOLE6,
    }
    values.update(overrides)
    return FakeNetConfig(**values)


def records(log: Path) -> list[Record]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text("utf-8").splitlines() if line]


def wait_record(log: Path, predicate: Callable[[Record], bool], timeout: float = 5.0) -> Record:
    deadline = time.monotonic() + timeout
    while True:
        for record in records(log):
            if predicate(record):
                return record
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching record in {log}: {records(log)[-5:]}")
        time.sleep(0.02)


def event(service: str, name: str, **fields: Any) -> Callable[[Record], bool]:
    def match(record: Record) -> bool:
        return (
            record.get("service") == service
            and record.get("event") == name
            and all(record.get(key) == value for key, value in fields.items())
        )

    return match


def connect(fakenet: FakeInternet, service: str, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection((SERVICE_ADDRESS, fakenet.ports[service][0]), timeout=timeout)
    return sock


def recv_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket, limit: int = 1 << 22) -> bytes:
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data
