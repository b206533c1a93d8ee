"""The wire format between the host and the in-guest agent.

One framed, versioned, size-limited protocol over a virtio-serial port. Every frame is an
8-byte header (magic ``AE``, protocol version, frame kind, payload length) followed by the
payload. The agent is a Go program; ``agent/protocol.go`` holds the same constants (a unit
test compares them).

Frame kinds:
  JSON   a UTF-8 JSON object: requests (``op``), replies (``re``) and events (``ev``)
  DATA   raw bytes of a file being uploaded, following a ``put`` request
  TRACE  raw kernel trace text streamed from the guest as it is produced
  OUTPUT one stream byte (1 stdout, 2 stderr) then bytes the sample printed
  FILE   a 4-byte big-endian request id, then bytes of a guest file the host asked for with
         a ``get`` request; they precede the request's reply, which states how many were sent

Version 2 added FILE frames and the ``get`` request. Version 3 is the Go agent: the host
sends the tracer's probe lines, events and filters in ``trace_start``; ``exec`` replies say
when execve failed (``exec_error``, ``errno``); ``ping`` adds ``machine``. The version is in
every frame header, so a host and an agent of different builds refuse each other's first
frame.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

MAGIC = b"AE"
VERSION = 3
HEADER = struct.Struct(">2sBBI")
MAX_PAYLOAD = 1 << 20
DATA_CHUNK = 256 * 1024
MAX_GET_BYTES = 1 << 30
FILE_ID = struct.Struct(">I")

KIND_JSON = 1
KIND_DATA = 2
KIND_TRACE = 3
KIND_OUTPUT = 4
KIND_FILE = 5
KINDS = frozenset({KIND_JSON, KIND_DATA, KIND_TRACE, KIND_OUTPUT, KIND_FILE})

STREAM_STDOUT = 1
STREAM_STDERR = 2

PORT_NAME = "org.aasee.agent"


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame; the channel cannot be trusted."""


class VersionMismatch(ProtocolError):
    """The peer speaks another protocol version: it comes from another build."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported protocol version {version} (want {VERSION})")
        self.version = version


def encode(kind: int, payload: bytes) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown frame kind {kind}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(MAGIC, VERSION, kind, len(payload)) + payload


def encode_json(message: dict[str, Any]) -> bytes:
    return encode(KIND_JSON, json.dumps(message, separators=(",", ":")).encode())


def encode_file(request_id: int, data: bytes) -> bytes:
    return encode(KIND_FILE, FILE_ID.pack(request_id) + data)


def decode_file(payload: bytes) -> tuple[int, bytes]:
    """(request id, content bytes) of a FILE frame."""
    if len(payload) < FILE_ID.size:
        raise ProtocolError(f"FILE frame of {len(payload)} bytes has no request id")
    (request_id,) = FILE_ID.unpack_from(payload)
    return request_id, payload[FILE_ID.size :]


class FrameReader:
    """Incremental frame parser: feed it bytes as they arrive, iterate complete frames.

    Bounded: it never buffers more than one header plus ``max_payload`` bytes, and rejects a
    frame that announces more before reading it.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            magic, version, kind, length = HEADER.unpack_from(self._buffer)
            if magic != MAGIC:
                raise ProtocolError(f"bad frame magic {bytes(magic)!r}")
            if version != VERSION:
                raise VersionMismatch(version)
            if kind not in KINDS:
                raise ProtocolError(f"unknown frame kind {kind}")
            if length > self._max_payload:
                raise ProtocolError(f"frame of {length} bytes exceeds limit {self._max_payload}")
            end = HEADER.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            yield kind, payload


def decode_json(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"JSON frame is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("JSON frame is not an object")
    return message
