"""Analysis timeout: ends the run ``timeout`` seconds after the sample started.

With ``stop_on_exit`` the run also ends (after ``exit_grace`` seconds) once the sample's
first process exits, for samples that are known not to linger.
"""

from __future__ import annotations

import threading

from aasee.core import Event, Hook, HookParameters


class TimeoutHook(Hook):
    """configuration: ``timeout`` seconds (default 60), ``stop_on_exit``, ``exit_grace``."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.timeout = float(self.configuration.get("timeout", 60))
        self.stop_on_exit = bool(self.configuration.get("stop_on_exit", False))
        self.grace = float(self.configuration.get("exit_grace", 2))
        self.timers: list[threading.Timer] = []
        self.fired = threading.Event()
        self.context.subscribe("sample_started", self._start)
        self.context.subscribe("sample_exited", self._exited)
        self.context.subscribe("sample_not_executed", self._not_executed)

    def _arm(self, delay: float, reason: str) -> None:
        timer = threading.Timer(delay, self._fire, args=(reason,))
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def _start(self, event: Event) -> None:
        self._arm(self.timeout, "timeout")

    def _exited(self, event: Event) -> None:
        if self.stop_on_exit:
            self._arm(self.grace, "sample exited")

    def _not_executed(self, event: Event) -> None:
        # Nothing of the sample runs: waiting for the timeout would prove nothing more.
        self._fire("the sample could not be executed")

    def _fire(self, reason: str) -> None:
        if not self.fired.is_set():
            self.fired.set()
            self.context.trigger("analysis_end", reason=reason)

    def cleanup(self) -> None:
        for timer in self.timers:
            timer.cancel()
