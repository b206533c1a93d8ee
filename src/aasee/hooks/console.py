"""Console log capture: the guest's serial console, saved next to the report."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._evidence import configured_events
from aasee.hooks._util import context_attr, copy_bounded, results_dir

__all__ = ["ConsoleLogHook"]

DEFAULT_EVENTS = ("post_poweroff",)
# After these the console is complete: it is not copied again at cleanup.
FINAL_EVENTS = frozenset({"post_poweroff", "post_shutdown"})


class ConsoleLogHook(Hook):
    """Copies the serial console log (kernel and init messages) into ``console.log``.

    configuration: ``results_dir``; ``events`` (default ``["post_poweroff"]``): the events at
    which the console so far is copied, each copy replacing the last (adding e.g.
    ``sample_exited`` keeps what the console showed then, even if the run later dies). The
    whole console is always copied at power-off, or when the hooks are cleaned up if the VM
    never got there; ``console_limit`` bytes (default 16 MiB).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"console_log"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.limit = int(self.configuration.get("console_limit", 16 << 20))
        self.events = configured_events(self, DEFAULT_EVENTS)
        self.saved = False
        self.complete = False
        for name in self.events:
            self.context.subscribe(name, self._collect)
        for name in sorted(FINAL_EVENTS - set(self.events)):
            # A copy made before power-off misses the end: the final one replaces it.
            self.context.subscribe(name, self._collect)

    def _collect(self, event: Event | None = None) -> None:
        if self.complete:
            return
        source = Path(context_attr(self, "console_log"))
        if not source.exists():
            self.logger.warning("the guest wrote no console log")
            return
        size, truncated = copy_bounded(source, results_dir(self) / "console.log", self.limit)
        self.saved = True
        self.complete = event is not None and event.name in FINAL_EVENTS
        self.context.trigger(
            "artifact",
            name="console.log",
            size=size,
            truncated=truncated,
            at=event.name if event is not None else "cleanup",
        )

    def cleanup(self) -> None:
        # A run that failed before power-off still deserves its console: it says why.
        try:
            self._collect()
        except OSError as exc:
            self.logger.warning("console log not saved: %s", exc)
