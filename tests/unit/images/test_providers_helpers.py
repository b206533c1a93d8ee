"""Helpers (no tests) for the remote image provider tests: images, archives, an HTTP server."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aasee.images.providers import pack_image
from aasee.images.store import GuestImage


def make_image(directory: Path, name: str = "guest", tag: str = "v1") -> GuestImage:
    """A small but complete guest image: four files, the disk's content marked by ``tag``."""
    directory.mkdir(parents=True, exist_ok=True)
    disk = directory / f"{name}.qcow2"
    disk.write_bytes(b"QFI\xfb" + tag.encode() * 1000)
    kernel = directory / f"{name}.vmlinuz"
    kernel.write_bytes(b"kernel-" + tag.encode())
    initrd = directory / f"{name}.initrd"
    initrd.write_bytes(b"initrd-" + tag.encode())
    image = GuestImage(
        name=name,
        arch="x86_64",
        os="debian",
        kernel_release="6.1.0",
        cmdline="console=ttyS0",
        disk=disk,
        kernel=kernel,
        initrd=initrd,
        agent_version="1",
        inputs_key=f"key-{tag}",
        built_at="2026-12-07T00:00:00Z",
    )
    (directory / f"{name}.json").write_text(image.model_dump_json(indent=2))
    return image


def archive_of(
    directory: Path, name: str = "guest", tag: str = "v1", compress: bool = False
) -> bytes:
    image = make_image(directory / tag, name, tag)
    path = pack_image(image, directory / f"{name}-{tag}.tar", compress=compress)
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar built member by member (for hostile archives)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def metadata(name: str = "guest", **changes: Any) -> bytes:
    data = {
        "name": name,
        "arch": "x86_64",
        "os": "debian",
        "kernel_release": "6.1.0",
        "cmdline": "console=ttyS0",
        "disk": f"/somewhere/{name}.qcow2",
        "kernel": f"/somewhere/{name}.vmlinuz",
        "initrd": f"/somewhere/{name}.initrd",
        "agent_version": "1",
        "inputs_key": "k",
        "built_at": "now",
    }
    data.update(changes)
    return json.dumps(data).encode()


Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    """A local HTTP server whose answer per path the test sets (``routes``)."""

    url: str
    routes: dict[str, Responder] = field(default_factory=dict)
    gets: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)

    def serve_bytes(self, path: str, data: bytes, gate: threading.Event | None = None) -> None:
        def respond(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if gate is not None:
                handler.wfile.write(data[:100])
                handler.wfile.flush()
                self.sent[path] += 100
                gate.wait(30)
                handler.wfile.write(data[100:])
            else:
                handler.wfile.write(data)
            self.sent[path] += len(data)

        self.routes[path] = respond

    def serve_json(self, path: str, document: Any, status: int = 200) -> None:
        body = json.dumps(document).encode()

        def respond(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = respond


@contextmanager
def http_server() -> Iterator[Server]:
    """Serve on 127.0.0.1, a free port, in a thread; stopped (and joined) on exit."""
    state: dict[str, Server] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            server = state["server"]
            server.gets[self.path] += 1
            respond = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
            if respond is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                respond(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_POST = do_GET  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = Server(f"http://127.0.0.1:{httpd.server_address[1]}")
    state["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
