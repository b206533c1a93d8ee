"""Tests on large inputs (a 100 MB trace): marked ``large``, so ``pytest -m unit`` leaves them
out; ``make test`` runs them. They bound sizes and counts, never seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

LARGE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(LARGE):
            item.add_marker(pytest.mark.large)
