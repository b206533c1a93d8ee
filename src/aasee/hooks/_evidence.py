"""Shared by the evidence hooks (memory dumps, screenshots, console log): the events a hook is
configured with, and the JSON manifests that tell processing what a hook left and where."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aasee.core import Hook

__all__ = ["configured_events", "file_safe", "write_manifest"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def configured_events(
    hook: Hook, default: Iterable[str], *, refused: Iterable[str] = (), allow_empty: bool = False
) -> tuple[str, ...]:
    """The ``events`` of a hook's configuration: a list of event names, checked.

    Raises ValueError (the hook then fails to load, with the reason) for anything but a list
    of non-empty strings, and for the ``refused`` events, at which the hook cannot work.
    """
    value = hook.configuration.get("events", None)
    if value is None:
        return tuple(default)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"'events' must be a list of event names, not {value!r}")
    events: list[str] = []
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"'events' must hold event names (non-empty strings), not {name!r}")
        if name in refused:
            raise ValueError(
                f"{type(hook).__name__} cannot act on {name!r}: "
                f"the events {', '.join(sorted(refused))} come when the VM is not running"
            )
        if name not in events:
            events.append(name)
    if not events and not allow_empty:
        raise ValueError("'events' is empty: name at least one event")
    return tuple(events)


def file_safe(name: str, limit: int = 60) -> str:
    """``name`` reduced to characters safe in a file name."""
    return _UNSAFE.sub("_", name).strip("._")[:limit] or "event"


def write_manifest(path: Path, document: dict[str, Any]) -> int:
    """Write ``document`` as JSON to ``path`` atomically; returns its size in bytes."""
    data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode(
        "utf-8", "backslashreplace"
    )
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(data)
