"""Bounded in-order reassembly of the first bytes of each direction of a TCP connection.

Segments are kept with their offset in the stream; retransmissions, overlaps and
out-of-order arrival are resolved when the stream is assembled, where bytes captured first
win (a sender cannot rewrite what was already seen). Only the first ``limit`` bytes of a
direction are kept, and every stored segment is charged to a budget shared by all streams.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["Assembled", "Budget", "HalfStream"]

_MASK = 0xFFFFFFFF
_WRAP = 1 << 32
_HALF = 1 << 31
# What a stored segment costs beyond its bytes (tuple, dict slot, bytes object).
SEGMENT_OVERHEAD = 128
MAX_SEGMENTS = 8192


@dataclass
class Budget:
    """Bytes all streams may still buffer; what was refused is counted."""

    remaining: int
    refused: int = 0


@dataclass
class Assembled:
    """The contiguous start of one direction, with when each part of it was captured."""

    data: bytes
    starts: list[int]
    times: list[float]

    def time_at(self, offset: int) -> float:
        index = bisect_right(self.starts, offset) - 1
        return self.times[max(index, 0)] if self.times else 0.0


class HalfStream:
    """One direction of a TCP connection."""

    __slots__ = ("limit", "origin", "synced", "segments", "_seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Sequence number of the first data byte: from the SYN, else the first segment seen.
        self.origin: int | None = None
        self.synced = False
        # In arrival order: where bytes overlap, the first captured win when assembling.
        self.segments: list[tuple[int, bytes, float]] = []
        self._seen: set[tuple[int, int]] = set()

    def syn(self, seq: int) -> None:
        if self.origin is None:
            self.origin = (seq + 1) & _MASK
            self.synced = True

    def add(self, seq: int, data: bytes, ts: float, budget: Budget) -> None:
        if self.origin is None:
            self.origin = seq
        offset = (seq - self.origin) & _MASK
        if offset >= _HALF:
            offset -= _WRAP
        # Without a SYN the true start is unknown: keep a window on both sides of the first
        # segment seen, and start the stream at the lowest offset when assembling.
        low = 0 if self.synced else -self.limit
        high = self.limit
        if offset + len(data) <= low or offset >= high:
            return
        if offset < low:
            data = data[low - offset :]
            offset = low
        if offset + len(data) > high:
            data = data[: high - offset]
        if (offset, len(data)) in self._seen:
            return
        cost = len(data) + SEGMENT_OVERHEAD
        if cost > budget.remaining or len(self.segments) >= MAX_SEGMENTS:
            budget.refused += len(data)
            return
        budget.remaining -= cost
        self._seen.add((offset, len(data)))
        self.segments.append((offset, data, ts))

    def assemble(self) -> Assembled:
        """The bytes in order from the lowest offset up to the first gap."""
        if not self.segments:
            return Assembled(b"", [], [])
        base = min(offset for offset, _, _ in self.segments)
        size = min(max(offset + len(data) for offset, data, _ in self.segments) - base, self.limit)
        buffer = bytearray(size)
        filled = bytearray(size)
        runs: list[tuple[int, float]] = []
        for offset, data, ts in self.segments:
            start = offset - base
            end = min(start + len(data), size)
            position = start
            while position < end:
                hole = filled.find(0, position, end)
                if hole < 0:
                    break
                stop = filled.find(1, hole, end)
                stop = end if stop < 0 else stop
                buffer[hole:stop] = data[hole - start : stop - start]
                filled[hole:stop] = b"\x01" * (stop - hole)
                runs.append((hole, ts))
                position = stop
        length = filled.find(0)
        length = size if length < 0 else length
        runs = sorted(run for run in runs if run[0] < length)
        return Assembled(bytes(buffer[:length]), [r[0] for r in runs], [r[1] for r in runs])
