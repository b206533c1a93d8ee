"""Host side of the agent channel: requests, replies and the event stream, all untrusted.

Everything the guest sends is hostile input. Frames are bounded by the protocol reader,
every JSON message is validated against a schema before use, streamed trace and output are
capped in total size, and nothing the guest says is ever used as a host path.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aasee.guest import protocol

log = logging.getLogger(__name__)

TraceSink = Callable[[bytes], None]
OutputSink = Callable[[int, bytes], None]
EventSink = Callable[["GuestEvent"], None]


class AgentError(Exception):
    """The agent could not be reached or refused a request."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reply(_Strict):
    re: int
    ok: bool
    error: str | None = Field(default=None, max_length=4096)


class GuestEvent(_Strict):
    ev: Literal["exit", "hello", "error"]
    pid: int | None = Field(default=None, ge=0, le=1 << 22)
    code: int | None = Field(default=None, ge=0, le=255)
    signal: int | None = Field(default=None, ge=0, le=128)
    time: float | None = None
    error: str | None = Field(default=None, max_length=4096)
    agent_version: str | None = Field(default=None, max_length=64)


class PingReply(_Strict):
    agent_version: str = Field(max_length=64)
    protocol: int
    kernel: str = Field(max_length=256)
    uptime: float
    time: float
    monotonic: float | None = None


class ExecReply(_Strict):
    pid: int = Field(ge=1, le=1 << 22)
    time: float
    monotonic: float


class TraceStopReply(_Strict):
    lost: int = Field(ge=0)
    errors: list[str] = Field(default_factory=list, max_length=200)


class AgentClient:
    """One connection to the agent through the QEMU chardev unix socket of the port."""

    def __init__(
        self,
        socket_path: Path,
        max_trace_bytes: int = 1 << 30,
        max_output_bytes: int = 8 << 20,
    ) -> None:
        self.socket_path = socket_path
        self.max_trace_bytes = max_trace_bytes
        self.max_output_bytes = max_output_bytes
        self.trace_bytes = 0
        self.trace_truncated = False
        self.output_bytes = 0
        self.protocol_errors: list[str] = []
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()
        self.trace_sinks: list[TraceSink] = []
        self.output_sinks: list[OutputSink] = []
        self.event_sinks: list[EventSink] = []

    # --- connection -----------------------------------------------------------------------
    def connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                break
            except OSError as exc:
                sock.close()
                if time.monotonic() > deadline:
                    raise AgentError(
                        f"cannot connect to the agent channel {self.socket_path}: {exc}"
                    ) from exc
                time.sleep(0.05)
        self._sock = sock
        self._closed.clear()
        self._reader = threading.Thread(target=self._read_loop, name="agent-reader", daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)
        with self._lock:
            for done, _ in self._pending.values():
                done.set()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float) -> PingReply:
        """Ping until the agent answers; it may still be booting."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                reply = self.request({"op": "ping"}, timeout=min(1.0, deadline - time.monotonic()))
                ping = PingReply.model_validate(reply)
                if ping.protocol != protocol.VERSION:
                    raise AgentError(
                        f"agent speaks protocol {ping.protocol}, host speaks {protocol.VERSION}: "
                        "rebuild the guest image with `aasee image build --force`"
                    )
                return ping
            except (TimeoutError, ValidationError) as exc:
                last = exc
        raise AgentError(f"the agent did not answer within {timeout:.0f} s ({last})")

    # --- requests -------------------------------------------------------------------------
    def _send(self, frame: bytes) -> None:
        if self._sock is None:
            raise AgentError("agent channel is not connected")
        with self._send_lock:
            try:
                self._sock.sendall(frame)
            except OSError as exc:
                raise AgentError(f"agent channel write failed: {exc}") from exc

    def request(
        self, message: dict[str, Any], timeout: float = 30.0, data: bytes | None = None
    ) -> dict[str, Any]:
        rid = next(self._ids)
        done = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            self._pending[rid] = (done, box)
        try:
            self._send(protocol.encode_json({**message, "id": rid}))
            if data is not None:
                for start in range(0, len(data), protocol.DATA_CHUNK):
                    self._send(
                        protocol.encode(
                            protocol.KIND_DATA, data[start : start + protocol.DATA_CHUNK]
                        )
                    )
            if not done.wait(timeout):
                raise TimeoutError(f"agent did not answer {message.get('op')!r} in {timeout} s")
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        if not box:
            raise AgentError(f"agent channel closed during {message.get('op')!r}")
        reply = Reply.model_validate(box[0])
        if not reply.ok:
            raise AgentError(f"agent refused {message.get('op')!r}: {reply.error}")
        return box[0]

    def put(self, data: bytes, guest_path: str, mode: int = 0o755, timeout: float = 120) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.request(
            {"op": "put", "path": guest_path, "size": len(data), "sha256": digest, "mode": mode},
            timeout=timeout,
            data=data,
        )

    def execute(
        self,
        argv: list[str],
        cwd: str = "/",
        user: str = "root",
        env: dict[str, str] | None = None,
        trace: bool = True,
    ) -> ExecReply:
        reply = self.request(
            {"op": "exec", "argv": argv, "cwd": cwd, "user": user, "env": env or {}, "trace": trace}
        )
        return ExecReply.model_validate(reply)

    def trace_start(self, raw_syscalls: bool = True, buffer_kb: int = 16384) -> list[str]:
        reply = self.request(
            {"op": "trace_start", "raw_syscalls": raw_syscalls, "buffer_kb": buffer_kb},
            timeout=60,
        )
        return [str(e)[:512] for e in reply.get("errors", [])][:200]

    def trace_stop(self, timeout: float = 60) -> TraceStopReply:
        return TraceStopReply.model_validate(self.request({"op": "trace_stop"}, timeout=timeout))

    def set_time(self, epoch: float) -> float:
        reply = self.request({"op": "settime", "epoch": epoch})
        previous = reply.get("previous")
        return float(previous) if isinstance(previous, int | float) else 0.0

    # --- stream ---------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reader = protocol.FrameReader()
        sock = self._sock
        assert sock is not None
        while not self._closed.is_set():
            try:
                data = sock.recv(1 << 16)
            except OSError:
                break
            if not data:
                break
            try:
                for kind, payload in reader.feed(data):
                    self._dispatch(kind, payload)
            except protocol.ProtocolError as exc:
                self.protocol_errors.append(str(exc))
                log.error("agent sent an invalid frame, dropping the channel: %s", exc)
                break
        with self._lock:
            for done, _ in self._pending.values():
                done.set()

    def _dispatch(self, kind: int, payload: bytes) -> None:
        if kind == protocol.KIND_TRACE:
            if self.trace_bytes + len(payload) > self.max_trace_bytes:
                self.trace_truncated = True
                return
            self.trace_bytes += len(payload)
            for sink in self.trace_sinks:
                sink(payload)
        elif kind == protocol.KIND_OUTPUT:
            if not payload or self.output_bytes + len(payload) > self.max_output_bytes:
                return
            self.output_bytes += len(payload)
            for output_sink in self.output_sinks:
                output_sink(payload[0], payload[1:])
        elif kind == protocol.KIND_JSON:
            message = protocol.decode_json(payload)
            if "re" in message:
                self._resolve(message)
            elif "ev" in message:
                try:
                    event = GuestEvent.model_validate(message)
                except ValidationError as exc:
                    self.protocol_errors.append(f"invalid event: {exc.errors()[:1]}")
                    return
                for event_sink in self.event_sinks:
                    event_sink(event)
        else:
            self.protocol_errors.append(f"unexpected frame kind {kind} from guest")

    def _resolve(self, message: dict[str, Any]) -> None:
        rid = message.get("re")
        if not isinstance(rid, int):
            self.protocol_errors.append("reply without an integer id")
            return
        with self._lock:
            waiter = self._pending.get(rid)
        if waiter is None:
            return  # a late answer to a ping we stopped waiting for
        done, box = waiter
        box.append(message)
        done.set()
