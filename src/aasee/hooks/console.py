"""Console log capture: the guest's serial console, saved next to the report."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import context_attr, copy_bounded, results_dir


class ConsoleLogHook(Hook):
    """Copies the serial console log (kernel and init messages) once the VM is off.

    configuration: ``results_dir``; ``console_limit`` bytes (default 16 MiB).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"console_log"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.limit = int(self.configuration.get("console_limit", 16 << 20))
        self.saved = False
        self.context.subscribe("post_poweroff", self._collect)

    def _collect(self, event: Event | None = None) -> None:
        if self.saved:
            return
        source = Path(context_attr(self, "console_log"))
        if not source.exists():
            self.logger.warning("the guest wrote no console log")
            return
        size, truncated = copy_bounded(source, results_dir(self) / "console.log", self.limit)
        self.saved = True
        self.context.trigger("artifact", name="console.log", size=size, truncated=truncated)

    def cleanup(self) -> None:
        # A run that failed before power-off still deserves its console: it says why.
        try:
            self._collect()
        except OSError as exc:
            self.logger.warning("console log not saved: %s", exc)
