"""What ``qemu-img`` says about the run's disk: its backing chain and what its top layer holds.

Owns reading ``qemu-img info --backing-chain`` (the overlay, then the ready snapshot's frozen
disk, then the image's disk) and ``qemu-img map`` (which byte ranges a layer allocates,
data or zeroes) into checked values, and the :class:`Ranges` the rest of the diff works on.
qemu-img runs on the host's own files, but its output is still parsed defensively (bounded,
every field type-checked).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tools import Sandbox, run_tool

__all__ = ["Chain", "ImageError", "Ranges", "backing_chain", "top_layer_ranges"]

MAP_OUTPUT_LIMIT = 128 << 20
INFO_OUTPUT_LIMIT = 4 << 20
MAX_CHAIN = 16


class ImageError(RuntimeError):
    """The disk image cannot be read as the qcow2 chain it should be."""


@dataclass
class Ranges:
    """A set of byte ranges, kept sorted and merged."""

    spans: list[tuple[int, int]] = field(default_factory=list)
    """(start, end) pairs, end exclusive."""

    @classmethod
    def of(cls, spans: Iterable[tuple[int, int]]) -> Ranges:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(s for s in spans if s[1] > s[0]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return cls(merged)

    def union(self, other: Ranges) -> Ranges:
        return Ranges.of([*self.spans, *other.spans])

    def minus(self, other: Ranges) -> Ranges:
        """These ranges without the parts ``other`` covers."""
        result: list[tuple[int, int]] = []
        for start, end in self.spans:
            cursor = start
            for first, last in other.overlaps(start, end):
                if first > cursor:
                    result.append((cursor, first))
                cursor = max(cursor, last)
            if cursor < end:
                result.append((cursor, end))
        return Ranges(result)

    def contains(self, point: int) -> bool:
        return any(True for _ in self.overlaps(point, point + 1))

    def in_blocks(self, block_size: int) -> Ranges:
        """The blocks these byte ranges touch, as ranges of block numbers."""
        return Ranges.of(self.blocks(block_size))

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.spans)

    def blocks(self, block_size: int) -> Iterator[tuple[int, int]]:
        """(first block, end block) runs of the blocks the ranges touch."""
        for start, end in self.spans:
            yield start // block_size, -(-end // block_size)

    def overlaps(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The parts of [start, end) the ranges cover (binary search, then a short walk)."""
        spans = self.spans
        low, high = 0, len(spans)
        while low < high:
            middle = (low + high) // 2
            if spans[middle][1] <= start:
                low = middle + 1
            else:
                high = middle
        for index in range(low, len(spans)):
            first, last = spans[index]
            if first >= end:
                return
            yield max(first, start), min(last, end)


@dataclass(frozen=True)
class Chain:
    overlay: Path
    base: Path
    """The overlay's backing file (the ready snapshot's disk or the image's disk)."""
    base_format: str
    files: list[str]
    virtual_size: int
    cluster_size: int


def _qemu_img(args: list[str], sandbox: Sandbox, timeout: float, limit: int) -> Any:
    result = run_tool(
        ["qemu-img", *args],
        sandbox,
        timeout=timeout,
        memory=2 << 30,
        file_size=limit + (1 << 20),
        output_limit=limit,
    )
    if result.returncode != 0:
        raise ImageError(f"qemu-img {args[0]} failed: {result.error_text()}")
    if result.stdout_truncated:
        raise ImageError(f"qemu-img {args[0]} printed more than {limit >> 20} MiB")
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise ImageError(f"qemu-img {args[0]} printed no JSON: {exc}") from exc


def _int(item: dict[str, Any], key: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImageError(f"qemu-img gave no valid {key!r}")
    return value


def backing_chain(overlay: Path, sandbox: Sandbox, timeout: float) -> Chain:
    """The overlay's chain, checked: a qcow2 overlay on a qcow2 (or raw) backing file."""
    overlay = overlay.absolute()
    if not overlay.is_file() or overlay.is_symlink():
        raise ImageError(f"the disk overlay {overlay} is missing or not a regular file")
    data = _qemu_img(
        ["info", "--force-share", "--backing-chain", "--output=json", str(overlay)],
        sandbox,
        timeout,
        INFO_OUTPUT_LIMIT,
    )
    if not isinstance(data, list) or not data or not all(isinstance(i, dict) for i in data):
        raise ImageError("qemu-img info gave no backing chain")
    if len(data) > MAX_CHAIN:
        raise ImageError(f"the backing chain has {len(data)} images, more than {MAX_CHAIN}")
    top = data[0]
    if top.get("format") != "qcow2":
        raise ImageError(f"the overlay is {top.get('format')!r}, not qcow2")
    if (
        isinstance(top.get("format-specific"), dict)
        and isinstance(top["format-specific"].get("data"), dict)
        and top["format-specific"]["data"].get("corrupt") is True
    ):
        raise ImageError("the overlay is marked corrupt by QEMU")
    if len(data) < 2:
        raise ImageError("the overlay has no backing file: nothing to compare it with")
    backing = top.get("full-backing-filename") or top.get("backing-filename")
    base_format = data[1].get("format")
    if not isinstance(backing, str) or base_format not in ("qcow2", "raw"):
        raise ImageError("the overlay's backing file or its format is unknown")
    base = Path(backing)
    if not base.is_absolute():
        base = overlay.parent / base
    files = [str(item.get("filename", "?")) for item in data]
    return Chain(
        overlay=overlay,
        base=base,
        base_format=str(base_format),
        files=files,
        virtual_size=_int(top, "virtual-size"),
        cluster_size=_int(top, "cluster-size") if "cluster-size" in top else 65536,
    )


def top_layer_ranges(
    image: Path, sandbox: Sandbox, timeout: float, *, force_share: bool = False
) -> Ranges:
    """The byte ranges ``image`` itself allocates (data or zeroes), not its backing files."""
    args = ["map", "--output=json"]
    if force_share:
        args.append("-U")
    data = _qemu_img([*args, str(image)], sandbox, timeout, MAP_OUTPUT_LIMIT)
    if not isinstance(data, list):
        raise ImageError("qemu-img map gave no list")
    spans = []
    for item in data:
        if not isinstance(item, dict):
            raise ImageError("qemu-img map gave a malformed entry")
        if item.get("depth") == 0 and item.get("present", True) is not False:
            start = _int(item, "start")
            spans.append((start, start + _int(item, "length")))
    return Ranges.of(spans)
