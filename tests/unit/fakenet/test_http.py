"""The fake web server: recording, canned bodies, TLS with SNI, and hostile requests."""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.hooks.fakenet import FakeInternet
from aasee.hooks.fakenet.content import ELF, PNG, SHELL

from .helpers import (
    SERVICE_ADDRESS,
    connect,
    event,
    make_config,
    recv_all,
    recv_until,
    wait_record,
)

pytestmark = pytest.mark.timeout(60)


def client(fakenet: FakeInternet) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(SERVICE_ADDRESS, fakenet.ports["http"][0], timeout=10)


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_get_is_answered_and_recorded(fakenet: FakeInternet, log_path: Path) -> None:
    conn = client(fakenet)
    conn.request(
        "GET", "/gate.php?id=42", headers={"Host": "c2.evil.example", "User-Agent": "EvilBot/1.0"}
    )
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/html")
    assert b"<html>" in body
    record = wait_record(log_path, event("http", "request", path="/gate.php"))
    assert record["method"] == "GET"
    assert record["host"] == "c2.evil.example"
    assert record["user_agent"] == "EvilBot/1.0"
    assert record["url"] == "http://c2.evil.example/gate.php?id=42"
    assert record["target"] == "/gate.php?id=42"
    assert ["User-Agent", "EvilBot/1.0"] in record["headers"]
    assert record["body_size"] == 0
    assert record["status"] == 200


def test_keep_alive_serves_several_requests(fakenet: FakeInternet, log_path: Path) -> None:
    conn = client(fakenet)
    for path in ("/one", "/two", "/three"):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    record = wait_record(log_path, event("http", "request", path="/three"))
    assert record["request_index"] == 2
    assert fakenet.stats()["http"]["connections"] == 1


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/dl/payload.elf", "application/octet-stream", ELF),
        ("/x/update.exe?v=1", "application/x-msdownload", ELF),
        ("/install.sh", "text/x-shellscript", SHELL),
        ("/img/logo.PNG", "image/png", PNG),
    ],
)
def test_canned_bodies_by_extension(
    fakenet: FakeInternet, path: str, content_type: str, body: bytes
) -> None:
    conn = client(fakenet)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.getheader("Content-Type") == content_type
    assert response.read() == body


def test_head_has_no_body(fakenet: FakeInternet) -> None:
    conn = client(fakenet)
    conn.request("HEAD", "/")
    response = conn.getresponse()
    assert response.status == 200
    assert int(response.getheader("Content-Length", "0")) > 0
    assert response.read() == b""


def test_post_body_is_hashed_and_previewed(fakenet: FakeInternet, log_path: Path) -> None:
    body = b"user=alice&pass=hunter2&blob=" + bytes(range(256)) * 40
    conn = client(fakenet)
    conn.request(
        "POST", "/upload", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert conn.getresponse().status == 200
    record = wait_record(log_path, event("http", "request", path="/upload"))
    assert record["body_size"] == len(body)
    assert record["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert record["body_framing"] == "length"
    assert record["body_complete"] is True
    assert record["body_preview"].startswith("user=alice&pass=hunter2&blob=")
    # invalid UTF-8 is kept visible as backslash escapes, not lost
    assert "\\xff" in record["body_preview"]
    assert len(record["body_preview"].encode()) < 4 * 4096 + 100


def test_chunked_body(fakenet: FakeInternet, log_path: Path) -> None:
    parts = [b"hello ", b"chunked ", b"world" * 1000]
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in parts)
    with connect(fakenet, "http") as sock:
        sock.sendall(
            b"POST /c HTTP/1.1\r\nHost: chunk.example\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked
            + b"0\r\nX-Trailer: yes\r\n\r\n"
        )
        reply = recv_until(sock, b"</html>")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    record = wait_record(log_path, event("http", "request", path="/c"))
    data = b"".join(parts)
    assert record["body_framing"] == "chunked"
    assert record["body_size"] == len(data)
    assert record["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_expect_100_continue(fakenet: FakeInternet, log_path: Path) -> None:
    with connect(fakenet, "http") as sock:
        sock.sendall(
            b"PUT /e HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert recv_until(sock, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    assert wait_record(log_path, event("http", "request", path="/e"))["body_size"] == 5


def test_https_records_sni(fakenet: FakeInternet, log_path: Path) -> None:
    conn = http.client.HTTPSConnection(
        SERVICE_ADDRESS, fakenet.ports["https"][0], timeout=10, context=unverified()
    )
    # http.client sends the Host header's name as SNI only for names, so wrap by hand
    raw = socket.create_connection((SERVICE_ADDRESS, fakenet.ports["https"][0]), timeout=10)
    conn.sock = unverified().wrap_socket(raw, server_hostname="evil.example")
    conn.request("GET", "/secret", headers={"Host": "evil.example"})
    response = conn.getresponse()
    assert response.status == 200
    response.read()
    conn.close()
    record = wait_record(log_path, event("https", "request", path="/secret"))
    assert record["sni"] == "evil.example"
    assert record["tls"] is True
    assert record["url"] == "https://evil.example/secret"


def test_https_chain_verifies_against_the_generated_ca(fakenet: FakeInternet) -> None:
    files = fakenet.tls_files
    assert files is not None
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.check_hostname = False  # the one certificate cannot match every name
    with socket.create_connection((SERVICE_ADDRESS, fakenet.ports["https"][0]), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="anything.example") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_all(tls).startswith(b"HTTP/1.1 200")


def test_failed_handshake_is_recorded_with_sni(fakenet: FakeInternet, log_path: Path) -> None:
    # a client that verifies certificates aborts; the name it wanted is still worth having
    context = ssl.create_default_context()
    with socket.create_connection((SERVICE_ADDRESS, fakenet.ports["https"][0]), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="pinned.example")
    record = wait_record(log_path, event("https", "tls_error"))
    assert record["sni"] == "pinned.example"
    # plain HTTP on the TLS port is a handshake failure, not a crash
    with socket.create_connection((SERVICE_ADDRESS, fakenet.ports["https"][0]), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        recv_all(raw)
    assert fakenet.stats()["https"]["errors"] == 0


def test_garbage_gets_400_and_the_server_carries_on(fakenet: FakeInternet, log_path: Path) -> None:
    with connect(fakenet, "http") as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        reply = recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in reply
    record = wait_record(log_path, event("http", "bad_request"))
    assert record["status"] == 400
    for bad in (
        b"GET /\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\n bad fold\r\n\r\n",
    ):
        with connect(fakenet, "http") as sock:
            sock.sendall(bad)
            assert recv_all(sock).startswith(b"HTTP/1.1 400 ")
    with connect(fakenet, "http") as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 400 ")
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET /" + b"a" * 100_000)  # a request line that never ends
        assert recv_all(sock).startswith(b"HTTP/1.1 400 ")
    conn = client(fakenet)
    conn.request("GET", "/after")
    assert conn.getresponse().status == 200
    assert fakenet.stats()["http"]["errors"] == 0


def test_header_flood_gets_431(fakenet: FakeInternet) -> None:
    flood = b"".join(b"X-Filler-%06d: %s\r\n" % (i, b"y" * 100) for i in range(700))  # ~80 KiB
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: flood\r\n" + flood + b"\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 431 ")
    # one enormous header line, without ever sending a newline
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"z" * 200_000)
        assert recv_all(sock).startswith(b"HTTP/1.1 431 ")
    # too many (small) header fields
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 150 + b"\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 431 ")


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def rss_sampler() -> Iterator[list[int]]:
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(_rss_kib())
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    yield samples
    stop.set()
    thread.join()


def test_50mb_upload_keeps_memory_bounded(
    fakenet: FakeInternet, log_path: Path, rss_sampler: list[int]
) -> None:
    size = 50 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB, sent over and over
    digest = hashlib.sha256()
    conn = client(fakenet)
    conn.request("GET", "/warmup")
    conn.getresponse().read()
    baseline = _rss_kib()
    with connect(fakenet, "http", timeout=30) as sock:
        sock.sendall(b"PUT /big.bin HTTP/1.1\r\nHost: up\r\nContent-Length: %d\r\n\r\n" % size)
        sent = 0
        while sent < size:
            sock.sendall(block)
            digest.update(block)
            sent += len(block)
        reply = recv_until(sock, b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")
    record = wait_record(log_path, event("http", "request", path="/big.bin"))
    assert record["body_size"] == size
    assert record["body_sha256"] == digest.hexdigest()
    assert len(record["body_preview"]) <= 4 * 4096
    growth_mib = (max(rss_sampler) - baseline) / 1024
    assert growth_mib < 30, f"RSS grew by {growth_mib:.1f} MiB"


def test_body_over_the_cap_is_cut_off(cert_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "cap.jsonl"
    config = make_config(cert_dir, limits={"max_body_bytes": 100_000})
    with FakeInternet(config, log) as internet, connect(internet, "http") as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n")
        try:
            for _ in range(20):
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert recv_all(sock).startswith(b"HTTP/1.1 413 ")
        record = wait_record(log, event("http", "request", path="/x"))
        assert record["status"] == 413
        assert record["body_complete"] is False
        assert record["body_size"] == 100_000


def test_handler_crash_is_contained(
    fakenet: FakeInternet, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aasee.hooks.fakenet.httpd import HttpService

    def explode(self: HttpService, request: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(HttpService, "_answer", explode)
    with connect(fakenet, "http") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert recv_all(sock) == b""
    record = wait_record(log_path, event("http", "error"))
    assert record["error"] == "RuntimeError"
    assert fakenet.stats()["http"]["errors"] == 1
    assert fakenet.errors()[-1]["service"] == "http"
    monkeypatch.undo()
    conn = client(fakenet)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
