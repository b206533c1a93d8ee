"""The JSONL event log and the per-service counters: the only state records leave behind.

Every record is one JSON object per line with ``time`` (ISO-8601 UTC), ``service`` and
``event``. Client-supplied bytes become strings with invalid UTF-8 backslash-escaped and
lengths capped. The log has two size thresholds: past ``full_bytes`` records lose their
bulky fields, past ``max_bytes`` they are only counted, so a guest cannot fill the disk.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

COUNTERS = ("connections", "active", "rejected", "bytes_in", "bytes_out", "errors", "timeouts")
MAX_RECORD_BYTES = 256 * 1024
MAX_ERRORS_KEPT = 100


def clean(value: bytes | str, limit: int) -> str:
    """A client-supplied value as a log-safe string of at most ``limit`` characters."""
    if isinstance(value, bytes):
        # cut before decoding so a huge value is never fully decoded
        text = value[:limit].decode("utf-8", "backslashreplace")
    else:
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:limit]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Stats:
    """Counters per service, safe to read from another thread while the loop updates them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._errors: collections.deque[dict[str, str]] = collections.deque(maxlen=MAX_ERRORS_KEPT)

    def ensure(self, service: str) -> None:
        """Make a listener's counters visible (as zeros) before its first connection."""
        with self._lock:
            counts = self._counts.setdefault(service, {})
            for counter in COUNTERS:
                counts.setdefault(counter, 0)

    def add(self, service: str, counter: str, amount: int = 1) -> None:
        with self._lock:
            counts = self._counts.setdefault(service, {})
            counts[counter] = counts.get(counter, 0) + amount

    def get(self, service: str, counter: str) -> int:
        with self._lock:
            return self._counts.get(service, {}).get(counter, 0)

    def error(self, service: str, where: str, exc: BaseException) -> None:
        self.add(service, "errors")
        with self._lock:
            self._errors.append(
                {
                    "time": now_iso(),
                    "service": service,
                    "where": where,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                }
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {service: dict(counts) for service, counts in self._counts.items()}

    def errors(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._errors)


class EventLog:
    """Appends records to a JSONL file, flushing each so a crash loses nothing."""

    def __init__(self, path: Path, stats: Stats, full_bytes: int, max_bytes: int) -> None:
        self.path = path
        self._stats = stats
        self._full = full_bytes
        self._max = max_bytes
        self._file: IO[bytes] | None = None
        self._size = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        # an appended-to log counts towards the caps with what it already holds
        self._size = self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(
        self,
        service: str,
        event: str,
        fields: Mapping[str, Any],
        bulky: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one record; ``bulky`` fields are the first thing dropped when space runs out."""
        head = {"time": now_iso(), "service": service, "event": event}
        line = self._encode({**head, **fields, **(bulky or {})})
        if bulky and (len(line) > MAX_RECORD_BYTES or self._size + len(line) > self._full):
            line = self._encode({**head, **fields, "slimmed": True})
            self._stats.add("log", "slimmed")
        if self._file is None or self._size + len(line) > self._max:
            self._stats.add("log", "dropped")
            return
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self._stats.error("log", "write", exc)
            return
        self._size += len(line)
        self._stats.add("log", "records")
        self._stats.add("log", "bytes", len(line))

    @staticmethod
    def _encode(record: Mapping[str, Any]) -> bytes:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        return text.encode("utf-8", "backslashreplace") + b"\n"
