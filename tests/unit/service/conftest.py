"""A real AgentClient connected to the real agent code running in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.guest.client import AgentClient

from .agent_harness import InProcessAgent


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentClient]:
    path = tmp_path / "agent.sock"
    served = InProcessAgent(path)
    client = AgentClient(path)
    client.connect(timeout=5)
    yield client
    client.close()
    served.close()
