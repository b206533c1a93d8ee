"""Guest clock: set to the host's time before the sample starts, read again at the end.

A restored snapshot wakes with the clock it was saved with; the sample must see the real
date (certificate checks, date-triggered payloads). Under the time warp the guest clock runs
ahead of the host's while the guest idles, so the guest time that passed during the run is
announced (``guest_clock``) for the report beside the wall time.
"""

from __future__ import annotations

import time
from typing import Any

from aasee.core import Event, Hook, HookParameters


class ClockHook(Hook):
    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.agent: Any = None
        self.context.subscribe("agent_ready", self._set)
        self.context.subscribe("pre_poweroff", self._read)

    def _set(self, event: Event) -> None:
        if "shared_clock" in (getattr(self.context, "capabilities", None) or ()):
            # A container reads the host's own clock: nothing to set, nothing to drift.
            return
        self.agent = event.agent
        previous = event.agent.set_time(time.time())
        self.logger.debug("guest clock set (it said %.3f)", previous)

    def _read(self, event: Event) -> None:
        if self.agent is None:
            return
        ping = self.agent.wait_ready(5)
        self.context.trigger("guest_clock", monotonic=ping.monotonic, time=ping.time)
