"""The real in-guest agent code, serving one unix socket in this process, for VM-less tests.

The image copies ``protocol.py`` next to ``agent.py``; here the host's own module is handed
to the agent under the same name, which is what the copy is.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from pathlib import Path
from types import ModuleType

import aasee.guest
from aasee.guest import protocol

AGENT = Path(aasee.guest.__file__).parent / "agent" / "agent.py"


def load_agent() -> ModuleType:
    sys.modules.setdefault("protocol", protocol)
    spec = importlib.util.spec_from_file_location("aasee_guest_agent", AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessAgent:
    """Accepts one connection on ``path`` and serves it with the agent's request handling."""

    def __init__(self, path: Path) -> None:
        self.module = load_agent()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        self.conn = conn
        channel = self.module.Channel("unused")
        channel.fd = conn.fileno()
        agent = self.module.Agent(channel)
        reader = protocol.FrameReader()
        while True:
            try:
                data = conn.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            for kind, payload in reader.feed(data):
                if kind == protocol.KIND_JSON:
                    agent.handle(protocol.decode_json(payload))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()
        self.thread.join(5)
