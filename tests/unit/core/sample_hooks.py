"""Test doubles: a recording context and hooks that succeed or fail on purpose.

Hooks and contexts write what happens to them into the context's ``journal``
so tests can check order across both without mocking.
"""

from __future__ import annotations

import threading
from typing import Any

from aasee.core import ContextBase, Event, EventBus, Hook, HookParameters


class RecordingContext(ContextBase):
    """A context whose actions only append to ``journal``.

    Any action named in ``fail_on`` raises ``failure`` after journaling.
    """

    def __init__(
        self,
        identifier: str,
        bus: EventBus | None = None,
        fail_on: frozenset[str] = frozenset(),
        failure: type[BaseException] = RuntimeError,
    ) -> None:
        super().__init__(identifier, bus)
        self.journal: list[str] = []
        self.fail_on = fail_on
        self.failure = failure
        self.shutdown_timeout: float | None = None

    def _act(self, action: str) -> None:
        self.journal.append(action)
        if action in self.fail_on:
            raise self.failure(f"{action} failed")

    def _poweron(self) -> None:
        self._act("_poweron")

    def _pause(self) -> None:
        self._act("_pause")

    def _resume(self) -> None:
        self._act("_resume")

    def _poweroff(self) -> None:
        self._act("_poweroff")

    def _shutdown(self, timeout: float | None) -> None:
        self.shutdown_timeout = timeout
        self._act("_shutdown")

    def cleanup(self) -> None:
        self._act("cleanup")


def journal_of(hook: Hook) -> list[str]:
    context = hook.context
    assert isinstance(context, RecordingContext)
    return context.journal


class RecordingHook(Hook):
    """Journals its construction and cleanup, and every ``ping`` it sees."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.label = str(self.configuration.get("label", type(self).__name__))
        journal_of(self).append(f"{self.label}:init")
        self.context.subscribe("ping", self.on_ping)

    def on_ping(self, event: Event) -> None:
        journal_of(self).append(f"{self.label}:ping")

    def cleanup(self) -> None:
        journal_of(self).append(f"{self.label}:cleanup")


class FailingCleanupHook(RecordingHook):
    """Journals its cleanup, then raises."""

    def cleanup(self) -> None:
        super().cleanup()
        raise OSError(f"{self.label} cleanup failed")


class RaisingHook(Hook):
    """Its constructor always raises."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        raise ValueError("bad hook setting")


class AsyncHook(RecordingHook):
    """Handles ``ping`` on the bus's worker pool, held back by a gate.

    The configuration carries ``gate`` and ``started`` threading.Events, which
    the test uses to control and observe the handler.
    """

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.context.subscribe_async("ping", self.on_ping_async)

    def on_ping_async(self, event: Event) -> None:
        started: threading.Event = self.configuration["started"]
        gate: threading.Event = self.configuration["gate"]
        started.set()
        if not gate.wait(10):
            raise TimeoutError("gate was never opened")
        journal_of(self).append(f"{self.label}:async-ping-done")


class NotAHook:
    """Importable class that is not a Hook subclass."""

    def __init__(self, *args: Any) -> None:
        pass


NOT_A_CLASS = 42


def hook_path(cls_or_name: type | str) -> str:
    """Dotted path of a sample in this module, robust to how tests are imported."""
    name = cls_or_name if isinstance(cls_or_name, str) else cls_or_name.__name__
    return f"{__name__}.{name}"


def sibling_module(module: str) -> str:
    """Dotted path of another module in this test package."""
    return f"{__name__.rpartition('.')[0]}.{module}"


class InterruptingHook(RecordingHook):
    """Journals its cleanup, then raises KeyboardInterrupt."""

    def cleanup(self) -> None:
        super().cleanup()
        raise KeyboardInterrupt
