"""The Context contract: the sandboxed resource an Environment drives.

This module owns the :class:`Context` protocol that hooks and environments
code against, :class:`ContextBase`, which wraps each lifecycle action in
``pre_<action>``/``post_<action>`` events and refuses the actions its current
state does not allow, the states and transitions themselves, and the
:data:`ContextFactory` type that environments use to create contexts.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, runtime_checkable

from aasee.core.events import Event, EventBus, Handler

__all__ = [
    "ACTIONS",
    "CONTEXT_SOURCE",
    "TRANSITIONS",
    "Context",
    "ContextBase",
    "ContextFactory",
    "ContextState",
    "ContextStateError",
    "NetworkAddresses",
]

CONTEXT_SOURCE = "context"
"""``source`` of the events a :class:`ContextBase` triggers (lifecycle events, and
every ``trigger`` made through it without a source of its own)."""


class ContextState(StrEnum):
    """Where a context is in its life; each compares equal to its lower-case name."""

    CREATED = "created"
    """Built, never powered on."""
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    """Powered off or shut down; it may be powered on again."""
    CRASHED = "crashed"
    """Reported by a context whose machine died under it."""


ACTIONS = ("poweron", "pause", "resume", "poweroff", "shutdown", "restart")
"""The lifecycle actions, each announced by ``pre_<action>`` and ``post_<action>``."""

TRANSITIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        ContextState.CREATED: MappingProxyType({"poweron": ContextState.RUNNING}),
        ContextState.RUNNING: MappingProxyType(
            {
                "pause": ContextState.PAUSED,
                "poweroff": ContextState.STOPPED,
                "shutdown": ContextState.STOPPED,
                "restart": ContextState.RUNNING,
            }
        ),
        ContextState.PAUSED: MappingProxyType(
            {"resume": ContextState.RUNNING, "poweroff": ContextState.STOPPED}
        ),
        ContextState.STOPPED: MappingProxyType({"poweron": ContextState.RUNNING}),
        ContextState.CRASHED: MappingProxyType(
            {"poweron": ContextState.RUNNING, "poweroff": ContextState.STOPPED}
        ),
    }
)
"""state -> {action allowed in that state -> the state it leads to}."""


class ContextStateError(RuntimeError):
    """A lifecycle action the context's current state does not allow.

    Raised before the action's ``pre_`` event fires, so no hook sees an action
    that is not going to happen. A RuntimeError, as SEE's refusal was.
    """

    def __init__(
        self, identifier: str, action: str, state: str, allowed: tuple[str, ...], busy: str = ""
    ) -> None:
        if busy:
            reason = f"it is busy with {busy}"
        else:
            reason = f"it is {state} (allowed when {state}: {', '.join(allowed) or 'nothing'})"
        super().__init__(f"cannot {action} context {identifier}: {reason}")
        self.identifier = identifier
        self.action = action
        self.state = state
        self.allowed = allowed
        self.busy = busy

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable despite the multi-argument constructor.
        return (
            type(self),
            (self.identifier, self.action, self.state, self.allowed, self.busy),
        )


@dataclass(frozen=True)
class NetworkAddresses:
    """The guest's addresses as far as the context knows them; None where unknown."""

    mac: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None


@runtime_checkable
class Context(Protocol):
    """What hooks and environments may rely on from any context.

    Keyword arguments of the lifecycle methods travel as the payload of their
    ``pre_``/``post_`` events. :class:`ContextBase` adds ``restart``, ``state``
    and the guest's addresses; a context of one's own need not have them.
    """

    @property
    def identifier(self) -> str:
        """The identifier of the environment owning this context."""
        ...

    def subscribe(self, event: str, handler: Handler) -> None: ...

    def subscribe_async(self, event: str, handler: Handler) -> None: ...

    def unsubscribe(self, event: str, handler: Handler) -> None: ...

    def trigger(self, event: str | Event, source: str | None = None, **payload: Any) -> Event: ...

    def poweron(self, **kwargs: Any) -> None: ...

    def pause(self, **kwargs: Any) -> None: ...

    def resume(self, **kwargs: Any) -> None: ...

    def poweroff(self, **kwargs: Any) -> None: ...

    def shutdown(self, timeout: float | None = None, **kwargs: Any) -> None: ...

    def cleanup(self) -> None: ...


class ContextBase(ABC):
    """Base for concrete contexts: event plumbing, lifecycle events and states.

    Subclasses implement ``_poweron``, ``_pause``, ``_resume``, ``_poweroff``
    and ``_shutdown`` (``_restart`` defaults to a power-off then power-on).
    Each public action first checks :attr:`transitions` against :attr:`state`
    and raises :class:`ContextStateError` if the state does not allow it; then
    it triggers ``pre_<action>``, runs the implementation, moves to the next
    state and triggers ``post_<action>``, each event carrying the action's
    keyword arguments as payload. If the implementation raises, the state is
    unchanged, no post event is triggered and the exception propagates.

    The state is the one this context's own actions led to: a guest that
    powers itself off stays ``running`` here until :meth:`poweroff`, so that
    teardown (and the hooks collecting evidence on it) always runs.
    """

    transitions: ClassVar[Mapping[str, Mapping[str, str]]] = TRANSITIONS

    def __init__(self, identifier: str, bus: EventBus | None = None) -> None:
        self._identifier = identifier
        # A bus handed in may be shared with others, so only one created
        # here is ours to close (see owns_bus).
        self._owns_bus = bus is None
        self._bus = EventBus() if bus is None else bus
        self._state_lock = threading.Lock()
        self._state: str = ContextState.CREATED
        self._busy = ""
        self._addresses = NetworkAddresses()

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

    # --- state ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The current :class:`ContextState` (a string: ``"running"``...)."""
        with self._state_lock:
            return self._state

    def allowed_actions(self) -> tuple[str, ...]:
        """The lifecycle actions the current state allows, in :data:`ACTIONS` order."""
        allowed = self.transitions.get(self.state, {})
        return tuple(action for action in ACTIONS if action in allowed)

    # --- addresses ------------------------------------------------------------------------
    def network_addresses(self) -> NetworkAddresses:
        """The guest's MAC, IPv4 and IPv6 addresses where known.

        Concrete contexts either override this or call :meth:`_set_network_addresses`.
        """
        return self._addresses

    def _set_network_addresses(
        self, mac: str | None = None, ipv4: str | None = None, ipv6: str | None = None
    ) -> None:
        self._addresses = NetworkAddresses(mac, ipv4, ipv6)

    @property
    def mac_address(self) -> str | None:
        return self.network_addresses().mac

    @property
    def ip4_address(self) -> str | None:
        return self.network_addresses().ipv4

    @property
    def ip6_address(self) -> str | None:
        return self.network_addresses().ipv6

    @property
    def ip_address(self) -> str | None:
        """The IPv4 address, else the IPv6 one (SEE's tutorial reads this name)."""
        addresses = self.network_addresses()
        return addresses.ipv4 or addresses.ipv6

    # --- events ---------------------------------------------------------------------------
    def subscribe(self, event: str | Event, handler: Handler) -> None:
        self._bus.subscribe(event, handler)

    def subscribe_async(self, event: str | Event, handler: Handler) -> None:
        self._bus.subscribe_async(event, handler)

    def unsubscribe(self, event: str | Event, handler: Handler) -> None:
        """Remove ``handler``'s synchronous and asynchronous subscriptions to ``event``."""
        self._bus.unsubscribe(event, handler)

    def trigger(self, event: str | Event, source: str | None = None, **payload: Any) -> Event:
        """Dispatch ``event``; an event built here names this context as its source."""
        if not isinstance(event, Event) and source is None:
            source = CONTEXT_SOURCE
        return self._bus.trigger(event, source, **payload)

    # --- lifecycle ------------------------------------------------------------------------
    def poweron(self, **kwargs: Any) -> None:
        self._transition("poweron", self._poweron, kwargs)

    def pause(self, **kwargs: Any) -> None:
        self._transition("pause", self._pause, kwargs)

    def resume(self, **kwargs: Any) -> None:
        self._transition("resume", self._resume, kwargs)

    def poweroff(self, **kwargs: Any) -> None:
        self._transition("poweroff", self._poweroff, kwargs)

    def shutdown(self, timeout: float | None = None, **kwargs: Any) -> None:
        self._transition(
            "shutdown", lambda: self._shutdown(timeout), {"timeout": timeout, **kwargs}
        )

    def restart(self, **kwargs: Any) -> None:
        """Restart the machine: ``pre_restart``, ``_restart()``, ``post_restart``."""
        self._transition("restart", self._restart, kwargs)

    # Deliberately concrete: overriding is optional for contexts that hold
    # nothing beyond what _poweroff/_shutdown release.
    def cleanup(self) -> None:  # noqa: B027
        """Release resources held by the context; the default holds none."""

    def _transition(
        self, action: str, implementation: Callable[[], None], payload: Mapping[str, Any]
    ) -> None:
        with self._state_lock:
            state = self._state
            target = self.transitions.get(state, {}).get(action)
            if target is None or self._busy:
                allowed = tuple(a for a in ACTIONS if a in self.transitions.get(state, {}))
                raise ContextStateError(self._identifier, action, state, allowed, self._busy)
            self._busy = action
        try:
            # Built here rather than through trigger(name, **payload), so that a payload
            # key named like a parameter of trigger ("source", "event") stays payload.
            self.trigger(Event(f"pre_{action}", CONTEXT_SOURCE, payload))
            implementation()
            with self._state_lock:
                self._state = target
        finally:
            with self._state_lock:
                self._busy = ""
        self.trigger(Event(f"post_{action}", CONTEXT_SOURCE, payload))

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

    def _restart(self) -> None:
        """A cold restart; contexts that can reboot the guest in place override this."""
        self._poweroff()
        self._poweron()


ContextFactory = Callable[[str], Context]
"""Creates a context for the environment identifier it is given."""
