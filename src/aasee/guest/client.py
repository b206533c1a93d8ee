"""Host side of the agent channel: requests, replies and the event stream, all untrusted.

Everything the guest sends is hostile input. Frames are bounded by the protocol reader,
every JSON message is validated against a schema before use, streamed trace and output are
capped in total size, and nothing the guest says is ever used as a host path.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aasee.guest import protocol

log = logging.getLogger(__name__)

TraceSink = Callable[[bytes], None]
OutputSink = Callable[[int, bytes], None]
EventSink = Callable[["GuestEvent"], None]
FileKind = Literal[
    "file", "directory", "symlink", "fifo", "socket", "char", "block", "other", "missing"
]
MAX_GUEST_PATH = 4096
MAX_PROTOCOL_ERRORS = 200
MAX_TRACE_ERRORS = 200
MAX_TRACE_ITEMS = 4096
MAX_TRACE_LINE = 4096
TRACE_BUFFER_KB = (1, 1 << 22)
# What the agent accepts as an event directory under tracefs's events/: "group/name".
_EVENT = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


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
    machine: str = Field(max_length=64)
    """The guest kernel's machine name, as ``uname -m`` prints it."""
    uptime: float
    time: float
    monotonic: float | None = None


class ExecReply(_Strict):
    """A started program. ``exec_error`` and ``errno`` (the guest kernel's number, the same on
    every architecture for the common ones: ENOENT 2, ENOEXEC 8, EACCES 13) say that its
    execve failed: it then exits with code 127 and its exit event follows as usual."""

    pid: int = Field(ge=1, le=1 << 22)
    time: float
    monotonic: float
    exec_error: str | None = Field(default=None, min_length=1, max_length=256)
    errno: int | None = Field(default=None, ge=1, le=4095)
    tracer_protection: str | None = Field(default=None, min_length=1, max_length=512)
    """Asked with ``protect``: ``lockdown``, or why the tracer stayed unprotected."""

    @model_validator(mode="after")
    def _failure_is_whole(self) -> Self:
        if (self.exec_error is None) != (self.errno is None):
            raise ValueError("exec_error and errno come together or not at all")
        return self


class TraceStartReply(_Strict):
    errors: list[str] = Field(default_factory=list, max_length=MAX_TRACE_ERRORS)
    reused: bool = False
    """The agent was already armed with this very request (a restored ready snapshot)."""


class TraceStopReply(_Strict):
    lost: int = Field(ge=0)
    errors: list[str] = Field(default_factory=list, max_length=MAX_TRACE_ERRORS)


class GetReply(_Strict):
    path: str = Field(max_length=MAX_GUEST_PATH)
    exists: bool
    kind: FileKind
    size: int = Field(ge=0, le=1 << 62)
    mode: int = Field(ge=0, le=0o7777)
    sent: int = Field(ge=0, le=protocol.MAX_GET_BYTES)
    truncated: bool
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class GuestFile:
    """What the guest said about one path, and up to the requested cap of its bytes.

    ``size`` and ``mode`` are the guest's lstat/fstat facts (claims, not verified); ``data``
    holds only bytes that arrived within the cap and match the guest's own SHA-256 of them;
    ``truncated`` means the file had more bytes than the cap.
    """

    path: str
    exists: bool
    kind: FileKind
    size: int
    mode: int
    data: bytes
    truncated: bool


class _Transfer:
    """The FILE frames of one ``get`` in progress; ``failure`` once the guest broke a rule."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.closed = False
        self.failure: str | None = None


def _inconsistency(path: str, cap: int, reply: GetReply, data: bytes) -> str | None:
    if reply.path != path:
        return "it answers for another path"
    if reply.sent != len(data):
        return f"it announced {reply.sent} bytes but sent {len(data)}"
    if hashlib.sha256(data).hexdigest() != reply.sha256:
        return "the SHA-256 it announced is not that of the bytes it sent"
    if reply.exists == (reply.kind == "missing"):
        return f"a file that {'exists' if reply.exists else 'does not exist'} of kind {reply.kind}"
    if reply.kind != "file" and (data or reply.truncated):
        return f"it sent content of a {reply.kind}, which is never read"
    if reply.truncated and len(data) != cap:
        return f"it claims truncation after {len(data)} bytes, below the {cap}-byte cap"
    return None


def _filter_text(text: str) -> bool:
    """One filter expression: a line break only inside a quoted string (the agent's rule)."""
    if not text or len(text) > MAX_TRACE_LINE or "\r" in text or "\0" in text:
        return False
    quoted = False
    for c in text:
        if c == '"':
            quoted = not quoted
        elif c == "\n" and not quoted:
            return False
    return not quoted


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
        self.broken: protocol.ProtocolError | None = None
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._transfers: dict[int, _Transfer] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._get_lock = threading.Lock()
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
        self.broken = None
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
    def _unusable(self) -> AgentError:
        if isinstance(self.broken, protocol.VersionMismatch):
            return AgentError(
                f"the agent speaks protocol {self.broken.version}, this host "
                f"{protocol.VERSION}: the guest image comes from another AASEE build; "
                "rebuild it with `aasee image build`"
            )
        return AgentError(f"agent channel dropped after an invalid frame: {self.broken}")

    def _send(self, frame: bytes) -> None:
        if self.broken is not None:
            raise self._unusable()
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
        return self._call(next(self._ids), message, timeout, data)

    def _call(
        self, rid: int, message: dict[str, Any], timeout: float, data: bytes | None = None
    ) -> dict[str, Any]:
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
            if self.broken is not None:
                raise self._unusable()
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
        protect: bool = False,
    ) -> ExecReply:
        """Start ``argv``; with ``trace`` the tracer follows it and its descendants, with
        ``protect`` too the guest kernel is then locked down before the program runs, so
        that nothing in the guest (root included) can open the tracer's controls again."""
        request: dict[str, object] = {
            "op": "exec",
            "argv": argv,
            "cwd": cwd,
            "user": user,
            "env": env or {},
            "trace": trace,
        }
        if protect:
            request["protect"] = True
        reply = self.request(request)
        return ExecReply.model_validate(reply)

    def trace_start(
        self,
        probes: Sequence[str],
        events: Sequence[str],
        filters: Sequence[tuple[str, str]] = (),
        buffer_kb: int = 16384,
        flood_budget: int = 0,
    ) -> list[str]:
        """Arm the guest's tracer and start streaming the trace; returns what it refused.

        ``probes`` are ``kprobe_events`` lines, ``events`` event directories to enable
        (``group/name``), ``filters`` (event, expression) pairs, ``buffer_kb`` the ring
        buffer per CPU: ``aasee.guest.probes.plan_for(profile)`` makes the first three for
        the guest's architecture. A probe, filter or event the guest kernel rejects is in
        the returned list (at most 200 entries of at most 512 characters), not an error.
        ``flood_budget`` (events per task and second, 0: off) arms the guest's flood guard.
        """
        probes, events = list(probes), list(events)
        pairs = [(str(event), str(expression)) for event, expression in filters]
        if max(len(probes), len(events), len(pairs)) > MAX_TRACE_ITEMS:
            raise ValueError(f"more than {MAX_TRACE_ITEMS} probes, events or filters")
        for text in probes:
            if not text or len(text) > MAX_TRACE_LINE or any(c in text for c in "\n\r\0"):
                raise ValueError(f"not a single tracefs line: {text[:100]!r}")
        for _, text in pairs:
            if not _filter_text(text):
                raise ValueError(f"not a filter expression: {text[:100]!r}")
        if not 0 <= flood_budget <= 1 << 30:
            raise ValueError("flood_budget must be between 0 and 2**30 events per second")
        for event in (*events, *(event for event, _ in pairs)):
            if not _EVENT.fullmatch(event) or any(p in (".", "..") for p in event.split("/")):
                raise ValueError(f"not an event name (group/name): {event[:100]!r}")
        if not TRACE_BUFFER_KB[0] <= buffer_kb <= TRACE_BUFFER_KB[1]:
            raise ValueError(
                f"buffer_kb must be between {TRACE_BUFFER_KB[0]} and {TRACE_BUFFER_KB[1]}"
            )
        message = {
            "op": "trace_start",
            "probes": probes,
            "events": events,
            "filters": [list(pair) for pair in pairs],
            "buffer_kb": buffer_kb,
            "flood_budget": flood_budget,
        }
        try:
            reply = TraceStartReply.model_validate(self.request(message, timeout=60))
        except ValidationError as exc:
            raise AgentError(f"trace_start: invalid reply: {exc.errors()[:1]}") from exc
        if reply.reused:
            log.debug("the guest's tracer was already armed with this plan")
        return [error[:512] for error in reply.errors]

    def trace_stop(self, timeout: float = 60) -> TraceStopReply:
        return TraceStopReply.model_validate(self.request({"op": "trace_stop"}, timeout=timeout))

    def set_time(self, epoch: float) -> float:
        reply = self.request({"op": "settime", "epoch": epoch})
        previous = reply.get("previous")
        return float(previous) if isinstance(previous, int | float) else 0.0

    def get_file(self, path: str, cap: int, timeout: float) -> GuestFile:
        """Facts about a guest path and at most ``cap`` bytes of it, if it is a regular file.

        The agent never follows a symlink at the end of ``path`` and never reads anything but
        a regular file. Raises ``AgentError`` when the agent refuses or its answer breaks the
        protocol (more than ``cap`` bytes, bytes for another request or after the reply, counts
        or hashes that do not match), ``TimeoutError`` when it does not finish in ``timeout``.
        """
        if not path.startswith("/") or "\0" in path:
            raise ValueError(f"guest path {path!r} must be absolute and free of NUL bytes")
        if len(path.encode("utf-8", "surrogatepass")) > MAX_GUEST_PATH:
            raise ValueError(f"guest path is longer than {MAX_GUEST_PATH} bytes")
        if not 0 <= cap <= protocol.MAX_GET_BYTES:
            raise ValueError(f"cap must be between 0 and {protocol.MAX_GET_BYTES} bytes")
        # One transfer at a time: the agent serves requests in order anyway, and it bounds
        # what a hostile guest can make the host buffer to one cap.
        with self._get_lock:
            rid = next(self._ids)
            transfer = _Transfer(cap)
            with self._lock:
                self._transfers[rid] = transfer
            try:
                message: dict[str, Any] | None = None
                error: AgentError | None = None
                try:
                    message = self._call(rid, {"op": "get", "path": path, "cap": cap}, timeout)
                except AgentError as exc:
                    error = exc
            finally:
                with self._lock:
                    self._transfers.pop(rid, None)
        if transfer.failure is not None:
            raise AgentError(f"get {path!r}: {transfer.failure}")
        if error is not None or message is None:
            raise error or AgentError(f"get {path!r}: no reply")
        try:
            reply = GetReply.model_validate(message)
        except ValidationError as exc:
            raise AgentError(f"get {path!r}: invalid reply: {exc.errors()[:1]}") from exc
        data = bytes(transfer.data)
        problem = _inconsistency(path, cap, reply, data)
        if problem is not None:
            raise AgentError(f"get {path!r}: the guest's answer is inconsistent: {problem}")
        return GuestFile(
            path=path,
            exists=reply.exists,
            kind=reply.kind,
            size=reply.size,
            mode=reply.mode,
            data=data,
            truncated=reply.truncated,
        )

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
                self.broken = exc
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
        elif kind == protocol.KIND_FILE:
            self._file_data(*protocol.decode_file(payload))
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

    def _protocol_error(self, text: str) -> None:
        if len(self.protocol_errors) < MAX_PROTOCOL_ERRORS:
            self.protocol_errors.append(text)

    def _file_data(self, rid: int, data: bytes) -> None:
        with self._lock:
            transfer = self._transfers.get(rid)
            if transfer is None or transfer.closed:
                self._protocol_error(f"file data for request {rid}, which is no get in progress")
                return
            if transfer.failure is not None:
                return
            if len(transfer.data) + len(data) > transfer.cap:
                transfer.failure = f"the guest sent more than the {transfer.cap}-byte cap"
                transfer.data = bytearray()
                # Fail the request now rather than wait for a reply that changes nothing.
                waiter = self._pending.get(rid)
                if waiter is not None:
                    waiter[0].set()
                return
            transfer.data += data

    def _resolve(self, message: dict[str, Any]) -> None:
        rid = message.get("re")
        if not isinstance(rid, int):
            self.protocol_errors.append("reply without an integer id")
            return
        with self._lock:
            transfer = self._transfers.get(rid)
            if transfer is not None:
                # The reply ends the transfer: bytes after it are not part of the file.
                transfer.closed = True
            waiter = self._pending.get(rid)
        if waiter is None:
            return  # a late answer to a ping we stopped waiting for
        done, box = waiter
        box.append(message)
        done.set()
