"""Cryptographic and fuzzy hashes of a file.

Owns :class:`Hasher` (MD5, SHA-1 and SHA-256 in one streaming pass, so the hashes name the
whole file even when only its first bytes are analysed) and :func:`fuzzy_hash` (ssdeep through
the pure-Python ``ppdeep``, which runs at 2-3 MB/s). Inputs above :data:`SSDEEP_LIMIT` are not
fuzzy-hashed at all, since the hash of a prefix would not compare with other tools'. ssdeep
also starts over with a smaller block size when the input gives too few pieces (a file of
zeros does that a dozen times), so the bytes ppdeep may read are capped too
(:data:`SSDEEP_WORK`); past that the hash is None.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import ppdeep  # type: ignore[import-untyped]

__all__ = ["SSDEEP_LIMIT", "SSDEEP_WORK", "Digests", "Hasher", "digests_of", "fuzzy_hash"]

SSDEEP_LIMIT = 2 << 20
"""Largest input that gets an ssdeep hash (about one second of ppdeep)."""
SSDEEP_WORK = 6 << 20
"""Bytes ppdeep may read over all its passes."""


@dataclass(frozen=True)
class Digests:
    size: int
    md5: str
    sha1: str
    sha256: str


class Hasher:
    """MD5, SHA-1 and SHA-256 of everything fed to :meth:`update`."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._sha1.update(chunk)
        self._sha256.update(chunk)
        self._size += len(chunk)

    def digests(self) -> Digests:
        return Digests(
            size=self._size,
            md5=self._md5.hexdigest(),
            sha1=self._sha1.hexdigest(),
            sha256=self._sha256.hexdigest(),
        )


def digests_of(data: bytes) -> Digests:
    hasher = Hasher()
    hasher.update(data)
    return hasher.digests()


class _OverBudget(Exception):
    pass


class _BudgetedStream(io.BytesIO):
    """The input as ppdeep reads it, pass after pass, until the budget is spent."""

    def __init__(self, data: bytes, budget: int) -> None:
        super().__init__(data)
        self._left = budget

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self._left -= len(chunk)
        if self._left < 0:
            raise _OverBudget
        return chunk


def fuzzy_hash(data: bytes) -> str | None:
    """The ssdeep hash of ``data``; None above :data:`SSDEEP_LIMIT` or :data:`SSDEEP_WORK`."""
    if len(data) > SSDEEP_LIMIT:
        return None
    try:
        # ppdeep.hash() is _spamsum() over a BytesIO; handing it our own stream is the one
        # way to bound the passes.
        return str(ppdeep._spamsum(_BudgetedStream(data, SSDEEP_WORK), len(data)))
    except _OverBudget:
        return None
