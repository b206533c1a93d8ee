"""The agent wire format: framing, limits, and what a hostile peer cannot do."""

from __future__ import annotations

import pytest

from aasee.guest import protocol


def test_roundtrip_in_arbitrary_pieces() -> None:
    frames = protocol.encode_json({"op": "ping", "id": 1}) + protocol.encode(
        protocol.KIND_TRACE, b"line\n" * 1000
    )
    reader = protocol.FrameReader()
    got = []
    for i in range(0, len(frames), 7):
        got += list(reader.feed(frames[i : i + 7]))
    assert [k for k, _ in got] == [protocol.KIND_JSON, protocol.KIND_TRACE]
    assert protocol.decode_json(got[0][1]) == {"op": "ping", "id": 1}
    assert got[1][1] == b"line\n" * 1000


V = bytes([protocol.VERSION])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"XX" + V + b"\x01\x00\x00\x00\x00", "magic"),
        (b"AE\x09\x01\x00\x00\x00\x00", "version"),
        (b"AE" + bytes([protocol.VERSION - 1]) + b"\x01\x00\x00\x00\x00", "version"),
        (b"AE" + V + b"\x63\x00\x00\x00\x00", "kind"),
        (b"AE" + V + b"\x01\x7f\xff\xff\xff", "exceeds"),
    ],
)
def test_bad_headers_are_rejected_before_reading_payload(raw: bytes, message: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=message):
        list(protocol.FrameReader().feed(raw))


def test_oversized_payload_refused_when_encoding() -> None:
    with pytest.raises(ValueError):
        protocol.encode(protocol.KIND_DATA, b"x" * (protocol.MAX_PAYLOAD + 1))


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"[1,2]", b"{not json"])
def test_json_frames_must_be_objects(payload: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_json(payload)


def test_file_frames_carry_their_request_id() -> None:
    frame = protocol.encode_file(70000, b"\x7fELF")
    ((kind, payload),) = protocol.FrameReader().feed(frame)
    assert kind == protocol.KIND_FILE
    assert protocol.decode_file(payload) == (70000, b"\x7fELF")
    with pytest.raises(protocol.ProtocolError, match="request id"):
        protocol.decode_file(b"\x00\x01")
