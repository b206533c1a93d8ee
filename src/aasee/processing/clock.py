"""Conversion of guest CLOCK_MONOTONIC times (the trace clock) to wall-clock ISO-8601 UTC.

The agent reports one instant read on both guest clocks; every trace time is placed relative
to it. Absurd times (from a forged or corrupt line) convert to ``None`` instead of raising.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["GuestClock", "iso_utc"]


def iso_utc(epoch: float | None) -> str | None:
    """``2024-05-01T12:00:00.123456Z`` for a Unix time, or ``None`` if it is not a real date."""
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GuestClock:
    """Maps guest monotonic seconds to Unix time through one (monotonic, epoch) pairing."""

    def __init__(self, monotonic: float, epoch: float) -> None:
        self.monotonic = monotonic
        self.epoch = epoch

    def to_epoch(self, ts: float) -> float:
        return self.epoch + (ts - self.monotonic)

    def to_monotonic(self, epoch: float) -> float:
        return self.monotonic + (epoch - self.epoch)

    def iso(self, ts: float | None) -> str | None:
        if ts is None:
            return None
        return iso_utc(self.to_epoch(ts))
