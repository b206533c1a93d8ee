"""Shared inputs: ELF programs built once per test session with gcc."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from aasee.processing.static import YaraRules, load_rules

from .builders import HELLO_C, gcc


@dataclass(frozen=True)
class Programs:
    dynamic: Path
    static: Path
    stripped: Path
    shared: Path


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    folder = tmp_path_factory.mktemp("programs")
    return Programs(
        dynamic=gcc(HELLO_C, folder / "hello"),
        static=gcc(HELLO_C, folder / "hello-static", "-static"),
        stripped=gcc(HELLO_C, folder / "hello-stripped", "-s"),
        shared=gcc(
            "int answer(void) { return 42; }\n", folder / "libanswer.so", "-shared", "-fPIC"
        ),
    )


@pytest.fixture(scope="session")
def rules() -> YaraRules:
    return load_rules()
