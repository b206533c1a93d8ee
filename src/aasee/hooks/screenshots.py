"""Screenshots of a guest with a display: a frame every few seconds, kept only when it changed.

QEMU renders the display (a VGA text console or a framebuffer) through QMP ``screendump``
into a PPM file in the run directory; the hook hashes its pixels and, when they differ from
the frames kept last, stores the frame as ``screenshots/<n>.png``. "Last" is the last
``RECENT`` frames, not only the one before: a blinking text cursor alternates two screens
forever, and a screen that did not otherwise change is not worth a frame a second. Frames are
taken every ``interval`` seconds from power-on to power-off, and at each configured event.
``screenshots/manifest.json`` lists the frames kept (time, why, size, pixel hash) and how many
identical ones were dropped. A guest without a display (the default, headless guests) gets
no screenshots, and the hook says so once.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._evidence import configured_events, write_manifest
from aasee.hooks._util import context_attr, results_dir

__all__ = [
    "FRAME_DIR",
    "MANIFEST",
    "Frame",
    "FrameError",
    "ScreenshotHook",
    "encode_png",
    "parse_ppm",
]

FRAME_DIR = "screenshots"
MANIFEST = f"{FRAME_DIR}/manifest.json"
FORMAT_VERSION = 1
DEFAULT_EVENTS = ("sample_started", "sample_exited", "pre_poweroff")
REFUSED_EVENTS = ("pre_poweron", "post_poweroff", "post_shutdown")
MAX_SIDE = 8192
MAX_FAILURES = 3
RECENT = 4
"""A frame identical to one of this many frames kept last is not kept again."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FrameError(ValueError):
    """A screendump file that is not a PPM this hook reads."""


@dataclass(frozen=True)
class Frame:
    """One screen: ``pixels`` are 8-bit RGB rows, top to bottom."""

    width: int
    height: int
    pixels: bytes

    @property
    def digest(self) -> str:
        """SHA-256 of the size and the pixels: equal frames, equal digests."""
        return hashlib.sha256(struct.pack(">II", self.width, self.height) + self.pixels).hexdigest()


def parse_ppm(data: bytes) -> Frame:
    """A binary PPM (``P6``, 8 bits per channel) as QEMU's screendump writes it."""
    fields: list[bytes] = []
    position = 0
    if not data.startswith(b"P6"):
        raise FrameError("not a binary PPM (P6)")
    position = 2
    while len(fields) < 3:
        while position < len(data) and data[position : position + 1].isspace():
            position += 1
        if position < len(data) and data[position : position + 1] == b"#":
            end = data.find(b"\n", position)
            position = len(data) if end < 0 else end + 1
            continue
        start = position
        while position < len(data) and data[position : position + 1].isdigit():
            position += 1
        if start == position or position - start > 6:
            raise FrameError("malformed PPM header")
        fields.append(data[start:position])
    if position >= len(data) or not data[position : position + 1].isspace():
        raise FrameError("malformed PPM header")
    position += 1
    width, height, maxval = (int(f) for f in fields)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise FrameError(f"PPM of {width}x{height} pixels is out of bounds")
    if maxval != 255:
        raise FrameError(f"PPM with maxval {maxval} (only 255 is read)")
    size = width * height * 3
    pixels = data[position : position + size]
    if len(pixels) != size:
        raise FrameError(f"PPM truncated: {len(pixels)} of {size} pixel bytes")
    return Frame(width, height, pixels)


def encode_png(frame: Frame, level: int = 6) -> bytes:
    """``frame`` as a PNG file (8-bit RGB, no filter, zlib compressed)."""
    stride = frame.width * 3
    rows = b"".join(
        b"\x00" + frame.pixels[offset : offset + stride]
        for offset in range(0, frame.height * stride, stride)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", frame.width, frame.height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )


class ScreenshotHook(Hook):
    """configuration: ``results_dir``; ``interval`` (seconds between frames, default 2; 0 takes
    frames at the events only); ``events`` (default ``["sample_started", "sample_exited",
    "pre_poweroff"]``): events at which a frame is also taken; ``max_frames`` kept (default
    300).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"qmp", "run_dir"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.events = configured_events(
            self, DEFAULT_EVENTS, refused=REFUSED_EVENTS, allow_empty=True
        )
        self.interval = float(self.configuration.get("interval", 2.0))
        if self.interval < 0:
            raise ValueError(f"'interval' is seconds between frames (0: none), not {self.interval}")
        self.max_frames = int(self.configuration.get("max_frames", 300))
        self.frames: list[dict[str, Any]] = []
        self.taken = 0
        self.unchanged = 0
        self.errors: list[str] = []
        self.truncated = False
        self.display: bool | None = None
        self._recent: deque[str] = deque(maxlen=RECENT)
        self._failures = 0
        self._started_at: float | None = None
        self._shoot_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written = False
        # Asynchronous: power-on's own handlers (the agent, the sample) take a while, and the
        # screen meanwhile is worth having.
        self.context.subscribe_async("post_poweron", self._start)
        for name in self.events:
            self.context.subscribe(name, self._on_event)
        self.context.subscribe("pre_poweroff", self._stop_capture)
        self.context.subscribe("pre_shutdown", self._stop_capture)

    # --- events -----------------------------------------------------------------------------
    def _has_display(self) -> bool:
        if self.display is None:
            config = getattr(self.context, "config", None)
            # A context that does not say is given a try: screendump tells.
            self.display = bool(getattr(config, "display", True))
            if not self.display:
                self.logger.info("the guest has no display: no screenshots")
        return self.display

    def _start(self, event: Event) -> None:
        if not self._has_display():
            return
        self._started_at = time.time()
        self._shoot("power on")
        if self.interval > 0 and self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(
                target=self._loop, name="aasee-screenshots", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._shoot("interval")

    def _on_event(self, event: Event) -> None:
        if self._has_display():
            self._shoot(event.name)

    def _stop_capture(self, event: Event) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(30)
        self._write()

    # --- frames -----------------------------------------------------------------------------
    def _shoot(self, reason: str) -> None:
        with self._shoot_lock:
            if self._written or self.truncated or self._failures >= MAX_FAILURES:
                return
            try:
                frame = self._grab()
            except Exception as exc:
                self._failures += 1
                message = f"screenshot ({reason}) failed: {exc}"
                self.logger.warning("%s", message)
                if len(self.errors) < 20:
                    self.errors.append(message)
                if self._failures >= MAX_FAILURES:
                    self.logger.warning("screenshots stopped after %d failures", MAX_FAILURES)
                    self._stop.set()
                return
            self._failures = 0
            self.taken += 1
            digest = frame.digest
            if digest in self._recent:
                self.unchanged += 1
                return
            if len(self.frames) >= self.max_frames:
                self.truncated = True
                self._stop.set()
                return
            self._keep(frame, digest, reason)

    def _grab(self) -> Frame:
        dump = Path(context_attr(self, "run_dir")) / "screen.ppm"
        dump.unlink(missing_ok=True)
        context_attr(self, "qmp")("screendump", filename=str(dump))
        try:
            # 8192 x 8192 RGB at most, plus the header.
            with dump.open("rb") as handle:
                data = handle.read(MAX_SIDE * MAX_SIDE * 3 + 64)
        finally:
            dump.unlink(missing_ok=True)
        return parse_ppm(data)

    def _keep(self, frame: Frame, digest: str, reason: str) -> None:
        folder = results_dir(self) / FRAME_DIR
        folder.mkdir(exist_ok=True)
        name = f"{len(self.frames) + 1:04d}.png"
        data = encode_png(frame)
        (folder / name).write_bytes(data)
        now = time.time()
        self._recent.append(digest)
        self.frames.append(
            {
                "file": f"{FRAME_DIR}/{name}",
                "time": round(now, 3),
                "offset": round(now - self._started_at, 3) if self._started_at else None,
                "reason": reason,
                "width": frame.width,
                "height": frame.height,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "pixels_sha256": digest,
            }
        )

    def _write(self) -> None:
        with self._shoot_lock:
            if self._written or self.display is None:
                return
            self._written = True
            document = {
                "version": FORMAT_VERSION,
                "display": self.display,
                "interval": self.interval,
                "events": list(self.events),
                "taken": self.taken,
                "unchanged": self.unchanged,
                "truncated": self.truncated,
                "frames": list(self.frames),
                "errors": list(self.errors),
            }
        try:
            folder = results_dir(self) / FRAME_DIR
            folder.mkdir(exist_ok=True)
            size = write_manifest(folder / "manifest.json", document)
        except OSError as exc:
            self.logger.error("screenshots manifest not written: %s", exc)
            return
        self.context.trigger("artifact", name=MANIFEST, size=size, truncated=self.truncated)

    def cleanup(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(30)
        self._write()
