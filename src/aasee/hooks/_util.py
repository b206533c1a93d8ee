"""Small helpers shared by the bundled hooks: where results go, bounded file copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aasee.core import Hook


def results_dir(hook: Hook) -> Path:
    value = hook.configuration.get("results_dir")
    if not value:
        raise ValueError(f"{type(hook).__name__} needs 'results_dir' in its configuration")
    path = Path(str(value))
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_bounded(source: Path, target: Path, limit: int) -> tuple[int, bool]:
    """Copy at most ``limit`` bytes of a guest-influenced file; returns (bytes, truncated)."""
    copied = 0
    with source.open("rb") as src, target.open("wb") as dst:
        while copied < limit:
            chunk = src.read(min(1 << 20, limit - copied))
            if not chunk:
                return copied, False
            dst.write(chunk)
            copied += len(chunk)
        return copied, bool(src.read(1))


def context_attr(hook: Hook, name: str) -> Any:
    value = getattr(hook.context, name, None)
    if value is None:
        raise TypeError(f"{type(hook).__name__} needs a context with '{name}' (libvirt QEMU)")
    return value


__all__ = ["copy_bounded", "context_attr", "results_dir"]
