"""ScreenshotHook: QMP screendumps of a guest with a display, kept as PNG when they changed."""

from __future__ import annotations

import hashlib
import json
import struct
import time
import zlib
from pathlib import Path

import pytest

from aasee.core import HookLoadError
from aasee.hooks.screenshots import MANIFEST, Frame, FrameError, encode_png, parse_ppm

from .fake_qemu import FakeQemuContext, load, ppm

HOOK = "aasee.hooks.screenshots.ScreenshotHook"


def _screen(value: int, width: int = 4, height: int = 3) -> bytes:
    return ppm(width, height, bytes([value, 0, 255 - value]) * (width * height))


def _decode_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGB pixels) of a PNG as encode_png writes it (checking every CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    assert all(raw[row * stride] == 0 for row in range(height))
    pixels = b"".join(raw[row * stride + 1 : (row + 1) * stride] for row in range(height))
    return width, height, pixels


class TestFrames:
    def test_ppm_to_png_keeps_every_pixel(self) -> None:
        pixels = bytes(range(256)) * 3 + bytes(48)
        frame = parse_ppm(ppm(16, 17, pixels))
        assert (frame.width, frame.height) == (16, 17)
        assert _decode_png(encode_png(frame)) == (16, 17, pixels)

    def test_ppm_comments_and_whitespace(self) -> None:
        frame = parse_ppm(b"P6 # a comment\n 2\t1\n# another\n255\n" + bytes(6))
        assert (frame.width, frame.height, frame.pixels) == (2, 1, bytes(6))

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"P3\n1 1\n255\n000", "not a binary PPM"),
            (b"P6\n1\n", "malformed"),
            (b"P6\n9999999 1\n255\n", "malformed"),
            (b"P6\n9000 1\n255\n", "out of bounds"),
            (b"P6\n0 1\n255\n", "out of bounds"),
            (b"P6\n1 1\n65535\n" + bytes(6), "maxval"),
            (b"P6\n2 2\n255\n" + bytes(11), "truncated"),
        ],
    )
    def test_bad_ppm(self, data: bytes, reason: str) -> None:
        with pytest.raises(FrameError, match=reason):
            parse_ppm(data)

    def test_digest_is_of_size_and_pixels(self) -> None:
        assert Frame(2, 1, bytes(6)).digest != Frame(1, 2, bytes(6)).digest
        assert Frame(2, 1, bytes(6)).digest == Frame(2, 1, bytes(6)).digest


def test_frames_kept_only_when_changed(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    # power on: A; sample_started: A again; sample_exited: B; then A, B (a blinking cursor),
    # then C at pre_poweroff.
    context.screens.frames = [_screen(v) for v in (1, 1, 2, 1, 2, 3)]
    results = tmp_path / "results"
    manager = load(
        context,
        results,
        HOOK,
        interval=0,
        events=["sample_started", "sample_exited", "analysis_end", "guest_clock", "pre_poweroff"],
    )
    context.poweron()
    context.bus.join()  # the power-on frame is taken asynchronously
    for name in ("sample_started", "sample_exited", "analysis_end", "guest_clock"):
        context.trigger(name)
    context.poweroff()
    manager.cleanup()
    document = json.loads((results / MANIFEST).read_text())
    assert document["display"] is True
    assert document["taken"] == 6 and document["unchanged"] == 3
    frames = document["frames"]
    assert [f["reason"] for f in frames] == ["power on", "sample_exited", "pre_poweroff"]
    assert [f["file"] for f in frames] == [f"screenshots/000{n}.png" for n in (1, 2, 3)]
    for frame, value in zip(frames, (1, 2, 3), strict=True):
        data = (results / frame["file"]).read_bytes()
        assert frame["sha256"] == hashlib.sha256(data).hexdigest()
        assert _decode_png(data) == (4, 3, parse_ppm(_screen(value)).pixels)
        assert (frame["width"], frame["height"]) == (4, 3)
    assert not (tmp_path / "run" / "screen.ppm").exists()
    assert [e.payload["name"] for e in context.artefacts] == [MANIFEST]


def test_frames_at_an_interval_until_power_off(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    context.screens.frames = [_screen(v) for v in range(1, 100)]
    results = tmp_path / "results"
    manager = load(context, results, HOOK, interval=0.02, events=[])
    context.poweron()
    deadline = time.monotonic() + 10
    while len(context.commands("screendump")) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    context.poweroff()
    taken = len(context.commands("screendump"))
    time.sleep(0.1)
    assert len(context.commands("screendump")) == taken  # stopped at power-off
    manager.cleanup()
    document = json.loads((results / MANIFEST).read_text())
    assert document["taken"] == taken >= 4
    assert {f["reason"] for f in document["frames"][1:]} == {"interval"}


def test_max_frames(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    context.screens.frames = [_screen(v) for v in range(1, 10)]
    results = tmp_path / "results"
    manager = load(context, results, HOOK, interval=0, events=["sample_exited"], max_frames=2)
    context.poweron()
    context.bus.join()
    for _ in range(4):
        context.trigger("sample_exited")
    context.poweroff()
    manager.cleanup()
    document = json.loads((results / MANIFEST).read_text())
    assert len(document["frames"]) == 2 and document["truncated"] is True


def test_a_guest_without_display_gets_none(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run", display=False)
    results = tmp_path / "results"
    manager = load(context, results, HOOK, interval=0.01)
    context.poweron()
    context.bus.join()
    context.trigger("sample_started")
    context.poweroff()
    manager.cleanup()
    assert context.commands("screendump") == []
    document = json.loads((results / MANIFEST).read_text())
    assert document["display"] is False and document["frames"] == []


def test_failing_screendumps_stop_the_capture(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    context.screens.frames = [b"not a ppm"]
    results = tmp_path / "results"
    manager = load(context, results, HOOK, interval=0, events=["sample_exited"])
    context.poweron()
    context.bus.join()
    for _ in range(5):
        context.trigger("sample_exited")
    context.poweroff()
    manager.cleanup()
    document = json.loads((results / MANIFEST).read_text())
    assert len(context.commands("screendump")) == 3
    assert document["frames"] == [] and len(document["errors"]) == 3


@pytest.mark.parametrize(
    ("configuration", "reason"),
    [
        ({"interval": -1}, "interval"),
        ({"events": ["post_poweroff"]}, "when the VM is not running"),
        ({"events": "sample_started"}, "must be a list"),
    ],
)
def test_bad_configuration(tmp_path: Path, configuration: dict[str, object], reason: str) -> None:
    with pytest.raises(HookLoadError, match=reason):
        load(FakeQemuContext(tmp_path / "run"), tmp_path / "results", HOOK, **configuration)
