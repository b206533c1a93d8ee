"""Markers and shared fixtures of the disk diff tests.

``e2fsprogs``: the test builds real ext4 images and qcow2 overlays (e2fsprogs, qemu-utils,
qemu-storage-daemon); ``root``: it reads them through the FUSE views, as ``make test`` does
(root, /dev/fuse) and switches the tools to nobody. Neither is skipped when missing: the test
fails saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aasee.hooks.disk_diff import DiffLimits, disk_diff

from .diskimages import require_root, require_tools


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2fsprogs: builds ext4 images and qcow2 overlays (`make install`)"
    )
    config.addinivalue_line("markers", "root: needs root (FUSE exports, tools run as nobody)")


@pytest.fixture
def tools() -> None:
    require_tools()


@pytest.fixture
def root() -> None:
    require_root()


Diff = Callable[..., dict[str, Any]]


@pytest.fixture
def diff(tmp_path: Path, tools: None) -> Diff:
    """Run the diff on an overlay; results in ``tmp_path/results``."""

    def run(overlay: Path, method: str = "fuse", **limits: Any) -> dict[str, Any]:
        if method == "fuse":
            require_root()
        results = tmp_path / "results"
        results.mkdir(exist_ok=True)
        sample = limits.pop("sample_path", None)
        ignore = limits.pop("ignore", ())
        return disk_diff(
            overlay,
            results,
            limits=DiffLimits(**limits),
            method=method,
            sample_path=sample,
            ignore=ignore,
        )

    return run


def by_path(document: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {entry["path"]: entry for entry in document["entries"]}
