"""The deduplicating, bounded store of behaviour records (files, network, ptrace).

Owns the rule "one record per action, target and process": a repeat bumps ``count`` and
merges the outcome (``ok`` if any attempt succeeded, the first error kept; for endpoints
"ok" wins over an errno). Each bucket holds at most ``limit`` records; what does not fit is
counted per bucket in :attr:`RecordStore.truncated` instead of growing without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

__all__ = ["RecordStore", "merge"]


class _Counted(Protocol):
    count: int


_R = TypeVar("_R", bound=_Counted)
_T = TypeVar("_T")


class _Attempted(Protocol):
    count: int
    ok: bool | None
    error: str | None


def merge(existing: _Attempted, ok: bool | None, error: str | None) -> None:
    """One more attempt of a recorded action: ``ok`` if any succeeded, the first error kept."""
    existing.count += 1
    if ok is True or existing.ok is True:
        existing.ok = True
    elif ok is False or existing.ok is False:
        existing.ok = False
    if existing.error is None and error is not None:
        existing.error = error


class RecordStore:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.truncated: dict[str, int] = {}
        # Records are pydantic models of several kinds, keyed per bucket.
        self._buckets: dict[str, dict[tuple[object, ...], Any]] = {}
        self._sequences: dict[str, list[Any]] = {}

    def drop(self, what: str, n: int = 1) -> None:
        self.truncated[what] = self.truncated.get(what, 0) + n

    def record(self, bucket: str, key: tuple[object, ...], make: Callable[[], _R]) -> _R | None:
        """A new record for ``key`` within the limit; ``None`` if it existed (count bumped)."""
        store = self._buckets.setdefault(bucket, {})
        existing = store.get(key)
        if existing is not None:
            existing.count += 1
            return None
        if len(store) >= self.limit:
            self.drop(bucket)
            return None
        record = make()
        store[key] = record
        return record

    def attempt(
        self,
        bucket: str,
        key: tuple[object, ...],
        ok: bool | None,
        error: str | None,
        make: Callable[[], _R],
    ) -> None:
        """Record an action with an ``ok``/``error`` outcome (``make`` is only called for a
        new record that fits)."""
        store = self._buckets.get(bucket)
        if store is None:
            store = self._buckets[bucket] = {}
        existing = store.get(key)
        if existing is None:
            if len(store) >= self.limit:
                truncated = self.truncated
                truncated[bucket] = truncated.get(bucket, 0) + 1
            else:
                store[key] = make()
            return
        merge(existing, ok, error)

    def bucket(self, bucket: str) -> dict[tuple[object, ...], Any]:
        """The records of ``bucket`` by key, for a caller doing what :meth:`attempt` does
        (:func:`merge` into an existing one, :meth:`drop` past :attr:`limit`)."""
        store = self._buckets.get(bucket)
        if store is None:
            store = self._buckets[bucket] = {}
        return store

    def endpoint(
        self, bucket: str, key: tuple[object, ...], result: str | None, make: Callable[[], _R]
    ) -> _R | None:
        """Record a network action with a ``result``; returns the (new or existing) record."""
        existing = self._buckets.setdefault(bucket, {}).get(key)
        if existing is None:
            return self.record(bucket, key, make)
        existing.count += 1
        if existing.result is None or (result == "ok" and existing.result != "ok"):
            existing.result = result
        record: _R = existing
        return record

    def append(self, bucket: str, item: object) -> None:
        """Keep every occurrence, in order (within the limit)."""
        sequence = self._sequences.setdefault(bucket, [])
        if len(sequence) >= self.limit:
            self.drop(bucket)
        else:
            sequence.append(item)

    def items(self, bucket: str, kind: type[_T]) -> list[_T]:
        found = self._sequences.get(bucket) or self._buckets.get(bucket, {}).values()
        return [item for item in found if isinstance(item, kind)]
