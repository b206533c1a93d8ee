"""Kernel tracer control on the host side: arm it in the guest, store the stream, stop it.

The trace is written to ``trace.log`` as it arrives, so what the sample did is on the host
even if it later wipes the guest.
"""

from __future__ import annotations

from typing import IO

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.core import Event, Hook, HookParameters
from aasee.guest.probes import new_seal, plan_for, sealed_events
from aasee.guest.trace_seal import Unsealer
from aasee.hooks._util import results_dir


class TracerHook(Hook):
    """configuration: ``results_dir``; ``arch`` (the guest's architecture, whose probes are
    armed); ``raw_syscalls`` (default true); ``trace_buffer_kb``; ``trace_seal`` (default
    true: every probe record ends with a random seal and ``trace.log`` holds one record per
    line, see ``guest/trace_seal.py``)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.profile = get_profile(str(self.configuration.get("arch", DEFAULT_ARCH)))
        self.raw_syscalls = bool(self.configuration.get("raw_syscalls", True))
        self.buffer_kb = int(self.configuration.get("trace_buffer_kb", 16384))
        self.sealed = bool(self.configuration.get("trace_seal", True))
        self.agent = None
        self.on_host = False
        self.unsealer: Unsealer | None = None
        self.file: IO[bytes] | None = None
        self.context.subscribe("agent_ready", self._arm)
        self.context.subscribe("pre_poweroff", self._stop)

    def _arm(self, event: Event) -> None:
        if "host_tracer" in (getattr(self.context, "capabilities", None) or ()):
            self._arm_on_host()
            return
        self.agent = event.agent
        # Unbuffered: what arrived is on disk at once, for readers while the run goes on
        # (dropped-file collection) and if the host process dies.
        self.file = (results_dir(self) / "trace.log").open("wb", buffering=0)
        seal: int | None = None
        if self.sealed:
            # A restored guest was armed with its snapshot's seal: the same plan re-arms
            # nothing. A cold-booted one gets a seal of its own.
            seal = getattr(self.context, "trace_seal", None) or new_seal()
            self.unsealer = Unsealer(seal, sealed_events(plan_for(self.profile, seal=seal)))
        event.agent.trace_sinks.append(self._write)
        plan = plan_for(self.profile, raw_syscalls=self.raw_syscalls, seal=seal)
        errors = event.agent.trace_start(
            plan.probes,
            plan.events,
            plan.filters,
            buffer_kb=self.buffer_kb,
            flood_budget=plan.flood_budget,
        )
        for error in errors:
            self.logger.warning("tracer: %s", error)
        self.context.trigger("trace_started", errors=errors)

    def _arm_on_host(self) -> None:
        """A container shares the host's kernel: the host traces it (same text format), and
        nothing of the tracer is inside."""
        self.on_host = True
        # The host tracer knows where each record ends: it writes one record per line.
        self.context.start_host_trace(results_dir(self) / "trace.log")  # type: ignore[attr-defined]
        self.context.trigger("trace_started", errors=[])

    def _write(self, chunk: bytes) -> None:
        if self.file is not None:
            self.file.write(self.unsealer.feed(chunk) if self.unsealer is not None else chunk)

    def _stop(self, event: Event) -> None:
        if self.on_host:
            self.on_host = False
            stats = self.context.stop_host_trace()  # type: ignore[attr-defined]
            self.context.trigger(
                "trace_stopped",
                lost=stats.lost_events if stats is not None else -1,
                errors=list(stats.errors) if stats is not None else ["the host tracer was gone"],
                bytes=stats.bytes_written if stats is not None else 0,
                truncated=False,
            )
            return
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
            if self.unsealer is not None:
                self.file.write(self.unsealer.finish())
                if self.unsealer.unfinished:
                    errors = [
                        *errors,
                        f"{self.unsealer.unfinished} trace records never reached their seal "
                        "(cut short, or a forgery attempt): kept as they were",
                    ]
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
