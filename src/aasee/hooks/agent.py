"""The agent channel as a hook, as SEE reached its agent: connect when the VM is on.

Once the VM runs, this hook connects to the agent's virtio-serial port (the context's
``agent_socket``), waits until the agent answers, and announces ``agent_ready`` with the
connected client; the hooks that work inside the guest (clock, tracer, sample runner,
dropped files) act on that event. A guest whose agent never answers leaves no
``agent_ready``: the driver takes that as a failed boot and tries its next plan.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.guest.client import AgentClient
from aasee.hooks._util import context_attr


class AgentHook(Hook):
    """configuration: ``agent_ready_timeout`` (seconds to wait for the agent, default 180),
    ``agent_connect_timeout`` (seconds for the channel socket to accept, default 30)."""

    requires: ClassVar[frozenset[str]] = frozenset({"agent_channel"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.ready_timeout = float(self.configuration.get("agent_ready_timeout", 180))
        self.connect_timeout = float(self.configuration.get("agent_connect_timeout", 30))
        self.client: AgentClient | None = None
        self.context.subscribe("post_poweron", self._connect)
        self.context.subscribe("post_poweroff", self._close)

    def _connect(self, event: Event) -> None:
        vm_running_at = time.monotonic()
        client = AgentClient(Path(context_attr(self, "agent_socket")))
        self.client = client
        client.connect(timeout=self.connect_timeout)
        ping = client.wait_ready(self.ready_timeout)
        self.logger.info(
            "agent %s ready (guest kernel %s, %s)", ping.agent_version, ping.kernel, ping.machine
        )
        self.context.trigger(
            "agent_ready",
            agent=client,
            ping=ping,
            vm_running_at=vm_running_at,
            ready_at=time.monotonic(),
        )

    def _close(self, event: Event | None = None) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def cleanup(self) -> None:
        self._close()
