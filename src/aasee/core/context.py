"""The Context contract: the sandboxed resource an Environment drives.

This module owns the :class:`Context` protocol that hooks and environments
code against, :class:`ContextBase`, which wraps each lifecycle action in
``pre_<action>``/``post_<action>`` events, and the :data:`ContextFactory`
type that environments use to create contexts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from aasee.core.events import Event, EventBus, Handler

__all__ = ["CONTEXT_SOURCE", "Context", "ContextBase", "ContextFactory"]

CONTEXT_SOURCE = "context"
"""``source`` of the lifecycle events that :class:`ContextBase` triggers."""


@runtime_checkable
class Context(Protocol):
    """What hooks and environments may rely on from any context."""

    @property
    def identifier(self) -> str:
        """The identifier of the environment owning this context."""
        ...

    def subscribe(self, event: str, handler: Handler) -> None: ...

    def subscribe_async(self, event: str, handler: Handler) -> None: ...

    def unsubscribe(self, event: str, handler: Handler) -> None: ...

    def trigger(self, event: str | Event, source: str | None = None, **payload: Any) -> Event: ...

    def poweron(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def poweroff(self) -> None: ...

    def shutdown(self, timeout: float | None = None) -> None: ...

    def cleanup(self) -> None: ...


class ContextBase(ABC):
    """Base for concrete contexts: event plumbing plus lifecycle events.

    Subclasses implement ``_poweron``, ``_pause``, ``_resume``, ``_poweroff``
    and ``_shutdown``. The public methods trigger ``pre_<action>`` before and
    ``post_<action>`` after them; if the implementation raises, no post event
    is triggered and the exception propagates unchanged.
    """

    def __init__(self, identifier: str, bus: EventBus | None = None) -> None:
        self._identifier = identifier
        # A bus handed in may be shared with others, so only one created
        # here is ours to close (see owns_bus).
        self._owns_bus = bus is None
        self._bus = EventBus() if bus is None else bus

    @property
    def identifier(self) -> str:
        return self._identifier

    @property
    def bus(self) -> EventBus:
        """The event bus this context dispatches through."""
        return self._bus

    @property
    def owns_bus(self) -> bool:
        """True if the bus was created by this context rather than passed in."""
        return self._owns_bus

    def subscribe(self, event: str, handler: Handler) -> None:
        self._bus.subscribe(event, handler)

    def subscribe_async(self, event: str, handler: Handler) -> None:
        self._bus.subscribe_async(event, handler)

    def unsubscribe(self, event: str, handler: Handler) -> None:
        self._bus.unsubscribe(event, handler)

    def trigger(self, event: str | Event, source: str | None = None, **payload: Any) -> Event:
        return self._bus.trigger(event, source, **payload)

    def poweron(self) -> None:
        self._around("poweron", self._poweron)

    def pause(self) -> None:
        self._around("pause", self._pause)

    def resume(self) -> None:
        self._around("resume", self._resume)

    def poweroff(self) -> None:
        self._around("poweroff", self._poweroff)

    def shutdown(self, timeout: float | None = None) -> None:
        self._around("shutdown", lambda: self._shutdown(timeout), timeout=timeout)

    # Deliberately concrete: overriding is optional for contexts that hold
    # nothing beyond what _poweroff/_shutdown release.
    def cleanup(self) -> None:  # noqa: B027
        """Release resources held by the context; the default holds none."""

    def _around(self, action: str, implementation: Callable[[], None], **payload: Any) -> None:
        self.trigger(f"pre_{action}", CONTEXT_SOURCE, **payload)
        implementation()
        self.trigger(f"post_{action}", CONTEXT_SOURCE, **payload)

    @abstractmethod
    def _poweron(self) -> None: ...

    @abstractmethod
    def _pause(self) -> None: ...

    @abstractmethod
    def _resume(self) -> None: ...

    @abstractmethod
    def _poweroff(self) -> None: ...

    @abstractmethod
    def _shutdown(self, timeout: float | None) -> None: ...


ContextFactory = Callable[[str], Context]
"""Creates a context for the environment identifier it is given."""
