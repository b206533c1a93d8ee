"""Every test under tests/unit is marked ``unit``: ``pytest -m unit`` runs them alone.

A unit test needs no server (PostgreSQL, Redis, S3), no browser, no libvirtd and no VM: only
this package, its Python dependencies and host programs ``make install`` brings (gcc, the
Debian packages whose files the YARA false-positive test scans); the whole set runs in about a
minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest hook sees the items of the whole session: mark only the ones under here.
    for item in items:
        if item.path.is_relative_to(UNIT):
            item.add_marker(pytest.mark.unit)
