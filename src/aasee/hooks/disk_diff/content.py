"""File contents out of the views: dumped by debugfs as nobody, hashed and stored by hash.

Owns reading the data of the regular files the diff reports (``debugfs -c`` ``dump <ino>``
into the tools' own directory, one batch per view), hashing them (SHA-256, files up to the
hash limit only: a huge or sparse file is never read whole) and keeping the small ones as
``<sha256>`` in the results (never a name from the guest). Dumps are opened without following
links and only if they are regular files no larger than asked, whatever the tool left there.
Also attributes changed data blocks to their files (``debugfs icheck``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from .diff import DiffLimits
from .tools import ToolError, run_tool
from .views import Views

__all__ = ["ContentResult", "ContentStore", "icheck"]

_ICHECK_LINE = re.compile(rb"^(\d+)\t(\d+)$")


@dataclass(frozen=True)
class ContentResult:
    sha256: str | None
    stored: str | None
    note: str | None


class ContentStore:
    """Hashes file contents of both views and stores the small ones in ``store_dir``."""

    def __init__(self, views: Views, limits: DiffLimits, deadline: float, store_dir: Path) -> None:
        self.views = views
        self.limits = limits
        self.deadline = deadline
        self.store_dir = store_dir
        self.hashed = 0
        self.stored = 0
        self.errors: list[str] = []

    def fetch(self, wanted: list[tuple[str, int, int]]) -> dict[tuple[str, int], ContentResult]:
        """(side, inode, size) -> what is known of its content; side "top" or "base"."""
        results: dict[tuple[str, int], ContentResult] = {}
        batches: dict[str, list[tuple[int, int]]] = {"top": [], "base": []}
        for side, ino, size in sorted(set(wanted)):
            key = (side, ino)
            if size > self.limits.hash_limit:
                results[key] = ContentResult(None, None, "not read: larger than the hash limit")
            elif self.hashed + size > self.limits.max_hash_bytes:
                results[key] = ContentResult(None, None, "not read: the reading budget is spent")
            else:
                self.hashed += size
                batches[side].append((ino, size))
        for side, items in batches.items():
            if items:
                results.update(self._batch(side, items))
        return results

    def _batch(
        self, side: str, items: list[tuple[int, int]]
    ) -> dict[tuple[str, int], ContentResult]:
        views = self.views
        out = views.out_dir
        commands = "".join(f"dump <{ino}> {out}/{side}-{ino}\n" for ino, _ in items)
        script = out.parent / f"dump-{side}.cmd"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(commands)
        image = views.top_path if side == "top" else views.base_path
        failure: str | None = None
        try:
            result = run_tool(
                ["debugfs", "-c", "-f", str(script), image],
                views.sandbox,
                timeout=min(self.deadline - time.monotonic(), 60.0),
                memory=1 << 30,
                file_size=self.limits.hash_limit + (1 << 20),
                output_limit=1 << 20,
            )
            if result.returncode != 0:
                failure = f"debugfs failed: {result.error_text()}"
        except ToolError as exc:
            failure = str(exc)
        if failure is not None:
            self.errors.append(f"file contents of the {_name(side)} not all read: {failure}")
        results = {}
        for ino, size in items:
            results[(side, ino)] = self._take(out / f"{side}-{ino}", size)
        return results

    def _take(self, path: Path, size: int) -> ContentResult:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return ContentResult(None, None, "its data could not be read")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > max(size, 0):
                return ContentResult(None, None, "its data could not be read")
            digest = hashlib.sha256()
            keep = size <= self.limits.max_file_bytes
            kept: list[bytes] = []
            left = size
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                digest.update(chunk)
                if keep:
                    kept.append(chunk)
                left -= len(chunk)
            if left:
                return ContentResult(None, None, "its data could not be read whole")
        finally:
            os.close(fd)
            try:
                path.unlink()
            except OSError:
                pass
        sha = digest.hexdigest()
        if not keep:
            return ContentResult(sha, None, "not stored: larger than the content limit")
        if self.stored + size > self.limits.max_total_bytes:
            return ContentResult(sha, None, "not stored: the content budget is spent")
        target = self.store_dir / sha
        if not target.exists():
            self.store_dir.mkdir(parents=True, exist_ok=True)
            temporary = self.store_dir / f".{sha}.tmp"
            with open(temporary, "wb") as handle:
                for chunk in kept:
                    handle.write(chunk)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
            self.stored += size
        return ContentResult(sha, sha, None)


def icheck(views: Views, blocks: list[int], deadline: float) -> dict[int, int]:
    """block -> inode owning it on the base side, for blocks that belong to a file."""
    if not blocks:
        return {}
    result = run_tool(
        ["debugfs", "-c", "-R", "icheck " + " ".join(map(str, blocks)), views.base_path],
        views.sandbox,
        timeout=min(deadline - time.monotonic(), 30.0),
        memory=1 << 30,
        file_size=4 << 20,
        output_limit=4 << 20,
    )
    owners = {}
    for line in result.stdout.splitlines():
        match = _ICHECK_LINE.match(line.strip())
        if match:
            owners[int(match.group(1))] = int(match.group(2))
    return owners


def _name(side: str) -> str:
    return "overlay" if side == "top" else "base"
