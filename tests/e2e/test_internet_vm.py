"""``--network internet``: refused unless the server configuration enables it; when enabled the
guest reaches an upstream network (a namespace standing in for the internet) and still nothing
of the host itself, and nothing of the uplink is left after the run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest

from aasee.contexts.network import enter, list_sandbox_namespaces
from aasee.contexts.uplink import list_host_tables
from aasee.images.store import GuestImage

from .test_network_vm import _Listener, _tcp_destinations, own_host_address

AASEE = [sys.executable, "-m", "aasee.cli.main"]
UPSTREAM_HOST_IP = "198.51.100.1"
UPSTREAM_IP = "198.51.100.2"


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


class _Upstream:
    """A network namespace behind a veth: a TCP service and a DNS server "on the internet"."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.netns = f"itest-up-{tag}"
        self.veth = f"itu{tag}"
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "up0", "netns", self.netns)
        _ip("addr", "add", f"{UPSTREAM_HOST_IP}/24", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.netns, "addr", "add", f"{UPSTREAM_IP}/24", "dev", "up0")
        _ip("-n", self.netns, "link", "set", "up0", "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        self.tcp_peers: list[str] = []
        self.dns_names: list[str] = []
        self.running = True
        self.ready = threading.Barrier(3)
        self.threads = [
            threading.Thread(target=self._tcp, daemon=True),
            threading.Thread(target=self._dns, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        self.ready.wait(10)

    def _tcp(self) -> None:
        enter(Path("/run/netns") / self.netns)
        with socket.socket() as server:
            server.bind((UPSTREAM_IP, 8080))
            server.listen(8)
            server.settimeout(0.2)
            self.ready.wait(10)
            while self.running:
                try:
                    conn, peer = server.accept()
                except OSError:
                    continue
                self.tcp_peers.append(peer[0])
                conn.sendall(b"REAL-UPSTREAM\n")
                conn.close()

    def _dns(self) -> None:
        enter(Path("/run/netns") / self.netns)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
            server.bind((UPSTREAM_IP, 53))
            server.settimeout(0.2)
            self.ready.wait(10)
            while self.running:
                try:
                    data, peer = server.recvfrom(4096)
                    query = dpkt.dns.DNS(data)
                except (OSError, dpkt.UnpackError):
                    continue
                reply = dpkt.dns.DNS(data)
                reply.op = dpkt.dns.DNS_RA | dpkt.dns.DNS_QR
                reply.rcode = dpkt.dns.DNS_RCODE_NOERR
                reply.an = []
                for question in query.qd:
                    self.dns_names.append(question.name)
                    if question.type == dpkt.dns.DNS_A:
                        answer = dpkt.dns.DNS.RR(name=question.name, type=dpkt.dns.DNS_A, ttl=60)
                        answer.ip = socket.inet_aton(UPSTREAM_IP)
                        reply.an.append(answer)
                server.sendto(bytes(reply), peer)

    def close(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(2)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    net = _Upstream()
    yield net
    net.close()


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    config = tmp_path / "aasee.toml"
    config.write_text(text)
    return {**os.environ, "AASEE_CONFIG": str(config)}


def test_internet_is_refused_without_server_configuration(tmp_path: Path) -> None:
    sample = tmp_path / "s.sh"
    sample.write_text("#!/bin/sh\necho hi\n")
    for text in ("", "internet_enabled = false\n"):
        result = subprocess.run(
            [*AASEE, "analyze", str(sample), "--network", "internet", "--out", str(tmp_path / "o")],
            env=_config(tmp_path, text),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "only be enabled in the server configuration" in result.stderr
        assert not (tmp_path / "o" / "report.json").exists()


@pytest.fixture
def host_ip() -> Iterator[str]:
    with own_host_address() as address:
        yield address


@pytest.mark.vm
def test_guest_reaches_the_upstream_and_never_the_host(
    guest_image: GuestImage,
    upstream: _Upstream,
    host_ip: str,
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    public, loopback, uplink_own = (
        _Listener(host_ip),
        _Listener("127.0.0.1"),
        _Listener(UPSTREAM_HOST_IP),
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        "#!/usr/bin/python3\n"
        "import json, socket\n"
        "result = {}\n"
        "try:\n"
        "    result['dns'] = socket.gethostbyname('c2.example.test')\n"
        "except OSError as exc:\n"
        "    result['dns'] = 'ERROR ' + str(exc)\n"
        f"targets = [({UPSTREAM_IP!r}, 8080), ({host_ip!r}, {public.port}),\n"
        f"           ({UPSTREAM_HOST_IP!r}, {uplink_own.port}), ('10.0.2.2', {loopback.port}),\n"
        "           ('10.0.2.2', 80), ('192.168.1.1', 80)]\n"
        "for host, port in targets:\n"
        "    try:\n"
        "        s = socket.create_connection((host, port), timeout=3)\n"
        "        result[f'{host}:{port}'] = s.recv(100).decode(errors='replace')\n"
        "    except OSError as exc:\n"
        "        result[f'{host}:{port}'] = 'ERROR ' + type(exc).__name__\n"
        "print(json.dumps(result))\n"
    )
    env = _config(
        tmp_path,
        f'internet_enabled = true\ninternet_uplink = "{upstream.veth}"\n'
        f'internet_dns = "{UPSTREAM_IP}"\n',
    )
    out = tmp_path / "out"
    try:
        run = subprocess.run(
            [*AASEE, "analyze", str(probe), "--network", "internet", "--timeout", "40"]
            + ["--stop-on-exit", "--json", "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        for listener in (public, loopback, uplink_own):
            listener.close()
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    seen = json.loads(report["output"]["stdout"].strip().splitlines()[-1])
    assert seen["dns"] == UPSTREAM_IP, seen
    assert "c2.example.test" in upstream.dns_names
    assert seen[f"{UPSTREAM_IP}:8080"] == "REAL-UPSTREAM\n", seen
    # the upstream saw the host's uplink address (NAT), never the guest's own
    assert upstream.tcp_peers and set(upstream.tcp_peers) == {UPSTREAM_HOST_IP}
    for target in (
        f"{host_ip}:{public.port}",
        f"{UPSTREAM_HOST_IP}:{uplink_own.port}",
        f"10.0.2.2:{loopback.port}",
        "10.0.2.2:80",
        "192.168.1.1:80",
    ):
        assert seen[target].startswith("ERROR"), (target, seen)
    assert public.accepted == loopback.accepted == uplink_own.accepted == 0
    assert (UPSTREAM_IP, 8080) in _tcp_destinations(out / "network.pcap")
    assert any(
        f["dst_ip"] == UPSTREAM_IP and f["dst_port"] == 8080 for f in report["network"]["flows"]
    )
    assert not (out / "fakenet.jsonl").exists()
    # nothing of the uplink is left: no host table, no veth, no namespace
    assert list_host_tables() == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert " aev" not in links
    assert list_sandbox_namespaces() == []
