"""What the Windows signature rules ask of a report's ``windows`` section.

Each helper yields ``(ref, summary, process key, pid)`` facts; rules turn them into evidence.
A report without the section (any Linux sample) gives nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..signatures.models import Evidence

__all__ = [
    "command_runs",
    "evidence",
    "file_ops",
    "registry_sets",
    "section",
]


def section(ctx: Any) -> Any:
    """The report's ``windows`` section, or None."""
    return getattr(ctx.report, "windows", None)


def evidence(
    ref: str, summary: str, process: str | None = None, pid: int | None = None
) -> Evidence:
    return Evidence(ref=ref, summary=summary[:300], process=process, pid=pid)


def registry_sets(ctx: Any, key_pattern: str) -> Iterator[tuple[int, Any]]:
    """Registry changes (keys created or values set) whose key matches ``key_pattern`` (regex,
    case-insensitive, searched in the full key path)."""
    windows = section(ctx)
    if windows is None:
        return
    pattern = re.compile(key_pattern, re.IGNORECASE)
    for index, change in enumerate(windows.registry):
        if change.action in ("value_set", "key_created") and pattern.search(change.key):
            yield index, change


def command_runs(ctx: Any, pattern: str) -> Iterator[tuple[int, Any]]:
    """Windows processes whose image name or command line matches ``pattern`` (regex,
    case-insensitive): what the sample started, including through ``cmd /c``."""
    windows = section(ctx)
    if windows is None:
        return
    compiled = re.compile(pattern, re.IGNORECASE)
    for index, process in enumerate(windows.processes):
        if compiled.search(process.command_line) or compiled.search(process.image_name):
            yield index, process


def file_ops(ctx: Any, ops: tuple[str, ...], path_pattern: str) -> Iterator[tuple[int, Any]]:
    """File operations of the section (Windows paths) matching ``path_pattern``."""
    windows = section(ctx)
    if windows is None:
        return
    compiled = re.compile(path_pattern, re.IGNORECASE)
    for index, item in enumerate(windows.files):
        target = item.destination if item.op == "renamed" and item.destination else item.path
        if item.op in ops and compiled.search(target):
            yield index, item


def started_programs(ctx: Any, *names: str) -> Iterator[Any]:
    """Evidence of each Windows process running one of ``names`` (lower-case image names)
    that the sample's own tree started (the sample itself excluded), with its parent."""
    windows = section(ctx)
    if windows is None:
        return
    root = ctx.root
    for index, process in enumerate(windows.processes):
        if process.image_name.lower() in names and (root is None or process.key != root.key):
            parent = next((p for p in windows.processes if p.key == process.parent), None)
            via = f"{parent.image_name} -> " if parent is not None else ""
            yield evidence(
                f"/windows/processes/{index}",
                f"{via}{process.command_line}",
                process.key,
                process.pid,
            )
