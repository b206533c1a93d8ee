"""Fixtures: one certificate directory per session, one running fake internet per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.hooks.fakenet import FakeInternet

from .helpers import make_config


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fakenet-certs")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "fakenet.jsonl"


@pytest.fixture
def fakenet(cert_dir: Path, log_path: Path) -> Iterator[FakeInternet]:
    internet = FakeInternet(make_config(cert_dir), log_path)
    internet.start_in_thread()
    yield internet
    internet.stop_in_thread()
