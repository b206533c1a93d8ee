"""Kernel tracer control on the host side: arm it in the guest, store the stream, stop it.

The trace is written to ``trace.log`` as it arrives, so what the sample did is on the host
even if it later wipes the guest.
"""

from __future__ import annotations

from typing import IO

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.core import Event, Hook, HookParameters
from aasee.guest.probes import plan_for
from aasee.hooks._util import results_dir


class TracerHook(Hook):
    """configuration: ``results_dir``; ``arch`` (the guest's architecture, whose probes are
    armed); ``raw_syscalls`` (default true); ``trace_buffer_kb``."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.profile = get_profile(str(self.configuration.get("arch", DEFAULT_ARCH)))
        self.raw_syscalls = bool(self.configuration.get("raw_syscalls", True))
        self.buffer_kb = int(self.configuration.get("trace_buffer_kb", 16384))
        self.agent = None
        self.file: IO[bytes] | None = None
        self.context.subscribe("agent_ready", self._arm)
        self.context.subscribe("pre_poweroff", self._stop)

    def _arm(self, event: Event) -> None:
        self.agent = event.agent
        # Unbuffered: what arrived is on disk at once, for readers while the run goes on
        # (dropped-file collection) and if the host process dies.
        self.file = (results_dir(self) / "trace.log").open("wb", buffering=0)
        event.agent.trace_sinks.append(self._write)
        plan = plan_for(self.profile, raw_syscalls=self.raw_syscalls)
        errors = event.agent.trace_start(
            plan.probes, plan.events, plan.filters, buffer_kb=self.buffer_kb
        )
        for error in errors:
            self.logger.warning("tracer: %s", error)
        self.context.trigger("trace_started", errors=errors)

    def _write(self, chunk: bytes) -> None:
        if self.file is not None:
            self.file.write(chunk)

    def _stop(self, event: Event) -> None:
        if self.agent is None:
            return
        agent, self.agent = self.agent, None
        try:
            stats = agent.trace_stop()
            lost, errors = stats.lost, stats.errors
        except Exception as exc:  # the guest may be wedged by the sample; keep what arrived
            self.logger.warning("tracer did not stop cleanly: %s", exc)
            lost, errors = -1, [f"trace stop failed: {exc}"]
        if self.file is not None:
            self.file.flush()
        self.context.trigger(
            "trace_stopped",
            lost=lost,
            errors=errors,
            bytes=agent.trace_bytes,
            truncated=agent.trace_truncated,
        )

    def cleanup(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
