"""The real in-guest agent, built for this host and serving a unix socket, for VM-less tests.

The Go agent is compiled once per test session with ``build_agent`` (what the image builder
uses, for the host's architecture) and started as a subprocess in its ``--socket`` mode:
the same binary that runs in the guest, serving connections one after another as it serves
the virtio-serial port. ``--tracefs`` points it at a directory standing in for tracefs.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from aasee.arch import get_profile, host_arch
from aasee.images.agent_build import build_agent

GO_CACHE = Path(
    os.environ.get("AASEE_TEST_GO_CACHE", Path(tempfile.gettempdir()) / "aasee-test-go-cache")
)
"""Go's build cache for test builds: a rebuild of unchanged sources takes a fraction of a second."""


@functools.cache
def agent_binary() -> Path:
    """The agent for this host, built into a temporary directory once per session."""
    go = get_profile(host_arch()).go
    folder = Path(tempfile.mkdtemp(prefix="aasee-test-agent-"))
    atexit.register(shutil.rmtree, folder, True)
    return build_agent(go.goarch, dict(go.env), folder / "aasee-agent", GO_CACHE)


class AgentProcess:
    """The agent serving ``path`` (a unix socket) until ``close``."""

    def __init__(self, path: Path, tracefs: Path | None = None) -> None:
        self.path = path
        self.tracefs = tracefs or path.parent / "no-tracefs"
        self.process = subprocess.Popen(
            [str(agent_binary()), "--socket", str(path), "--tracefs", str(self.tracefs)],
            stdin=subprocess.DEVNULL,
        )

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# The name tests/unit/service/conftest.py knows the harness by.
InProcessAgent = AgentProcess
