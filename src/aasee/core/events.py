"""Events and the thread-safe bus that dispatches them to handlers.

This module owns the :class:`Event` value type, the :class:`HandlerError`
record of a failed handler, and :class:`EventBus`, which runs synchronous
handlers in the triggering thread and asynchronous ones on a thread pool.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback as traceback_module
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["WILDCARD", "Event", "EventBus", "Handler", "HandlerError"]

logger = logging.getLogger(__name__)

WILDCARD = "*"
"""Subscribing to this name receives every event triggered on the bus."""

Handler = Callable[["Event"], Any]


@dataclass(frozen=True, eq=False, init=False)
class Event:
    """Something that happened, with the data describing it.

    Payload keys are readable as attributes (``event.sample_path``); the
    dataclass fields ``name``, ``source``, ``payload`` and ``timestamp`` take
    precedence over payload keys of the same name, which stay reachable via
    ``payload``. Payload may be given as a mapping, as keywords (SEE's
    ``Event("run_command", command="ls")``) or both.

    An event stands for its name wherever SEE hooks used the name string: it
    compares equal to it (``event == "post_poweron"``, ``event in ("a", "b")``),
    hashes like it, and formats as it (``"%s" % event``, ``f"{event}"``,
    ``event + ".log"``). Two events are equal when name, source and payload
    are; ``timestamp`` (``time.time()`` when the event was built) is ignored.
    """

    name: str
    source: str | None = None
    # Hashing a mapping proxy fails; __hash__ below hashes the name only.
    payload: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = 0.0

    def __init__(
        self,
        name: str,
        source: str | None = None,
        payload: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        **fields: Any,
    ) -> None:
        # Copy so that later changes to the caller's dict cannot leak into the
        # event, and wrap so handlers cannot alter what other handlers see.
        data = dict(payload) if payload is not None else {}
        data.update(fields)
        # SEE's events were strings, so an event may be named by another event.
        object.__setattr__(self, "name", name.name if isinstance(name, Event) else name)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "payload", MappingProxyType(data))
        object.__setattr__(
            self, "timestamp", time.time() if timestamp is None else float(timestamp)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; rebuild from a plain dict instead.
        return (type(self), (self.name, self.source, dict(self.payload), self.timestamp))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return (self.name, self.source, dict(self.payload)) == (
                other.name,
                other.source,
                dict(other.payload),
            )
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        # Equal to its name, so it must hash like it (dict and set lookups).
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)

    def __add__(self, other: str) -> str:
        if not isinstance(other, str):
            return NotImplemented
        return self.name + other

    def __radd__(self, other: str) -> str:
        if not isinstance(other, str):
            return NotImplemented
        return other + self.name

    def __getattr__(self, key: str) -> Any:
        # Only reached when normal lookup fails. Reading through __dict__
        # avoids infinite recursion while the instance is half built (copy,
        # pickle) and dunder probes must not be answered from the payload.
        if key.startswith("__"):
            raise AttributeError(key)
        payload = self.__dict__.get("payload", {})
        try:
            return payload[key]
        except KeyError:
            name = self.__dict__.get("name")
            raise AttributeError(
                f"event {name!r} has no attribute or payload key {key!r}"
            ) from None


@dataclass(frozen=True)
class HandlerError:
    """A handler that raised while processing an event."""

    event: str
    handler: str
    error: BaseException
    traceback: str

    def __str__(self) -> str:
        return (
            f"handler {self.handler} failed on event {self.event!r}: "
            f"{type(self.error).__name__}: {self.error}"
        )


def _event_name(event: str | Event) -> str:
    # SEE hooks subscribe with an Event as readily as with its name.
    return event.name if isinstance(event, Event) else event


def handler_name(handler: Handler) -> str:
    """Return a readable qualified name for ``handler`` (module + qualname)."""
    qualname = getattr(handler, "__qualname__", None)
    if qualname is None:
        # partials and callable instances have no __qualname__ of their own.
        return repr(handler)
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


@dataclass(frozen=True)
class _Subscription:
    # A global sequence number lets exact-name and wildcard subscriptions be
    # merged back into the order in which they were made.
    sequence: int
    handler: Handler
    asynchronous: bool


class EventBus:
    """Dispatches events to subscribed handlers; safe to use from any thread.

    Synchronous handlers run in the triggering thread, in subscription order,
    before :meth:`trigger` returns. Asynchronous handlers run on a worker
    pool and are waited for by :meth:`join`. A failing handler never stops
    the others: its error is logged and recorded in :attr:`errors`.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._subscriptions: dict[str, list[_Subscription]] = {}
        self._sequence = 0
        self._errors: list[HandlerError] = []
        self._pending = 0
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="aasee-events"
        )
        # Marks pool threads that are running one of our handlers, so join()
        # can refuse to wait for itself instead of deadlocking.
        self._local = threading.local()

    def subscribe(self, event: str | Event, handler: Handler) -> None:
        """Run ``handler`` synchronously whenever ``event`` is triggered."""
        self._add(event, handler, asynchronous=False)

    def subscribe_async(self, event: str | Event, handler: Handler) -> None:
        """Run ``handler`` on the worker pool whenever ``event`` is triggered."""
        self._add(event, handler, asynchronous=True)

    def unsubscribe(self, event: str | Event, handler: Handler) -> None:
        """Remove every subscription of ``handler`` to ``event``, synchronous and asynchronous.

        Raises ValueError if ``handler`` is not subscribed to ``event`` at all.
        """
        name = _event_name(event)
        with self._lock:
            subscriptions = self._subscriptions.get(name, [])
            # == rather than `is`: bound methods are re-created on every
            # attribute access but compare equal.
            kept = [s for s in subscriptions if s.handler != handler]
            if len(kept) < len(subscriptions):
                self._subscriptions[name] = kept
                return
        raise ValueError(f"{handler_name(handler)} is not subscribed to event {name!r}")

    def trigger(self, event: str | Event, source: str | None = None, **payload: Any) -> Event:
        """Dispatch an event to its handlers and return it.

        ``event`` is either a name, in which case an :class:`Event` is built
        from ``source`` and ``payload``, or a ready-made :class:`Event`.
        Raises RuntimeError once the bus is closed.
        """
        built = self._build(event, source, payload)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"cannot trigger {built.name!r}: event bus is closed")
            selected = self._subscriptions.get(built.name, []) + self._subscriptions.get(
                WILDCARD, []
            )
            selected.sort(key=lambda subscription: subscription.sequence)
            for subscription in selected:
                if subscription.asynchronous:
                    self._pending += 1
                    try:
                        self._executor.submit(self._run_async, subscription.handler, built)
                    except BaseException:
                        self._pending -= 1
                        raise
        for subscription in selected:
            if not subscription.asynchronous:
                self._run(subscription.handler, built)
        return built

    @property
    def errors(self) -> list[HandlerError]:
        """Errors raised by handlers so far, oldest first (a copy)."""
        with self._lock:
            return list(self._errors)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no asynchronous handler is running or queued.

        Handlers started while waiting (e.g. by other handlers) are waited
        for too. Returns False if some were still pending at ``timeout``.
        Raises RuntimeError when called from an asynchronous handler.
        """
        if getattr(self._local, "in_handler", False):
            raise RuntimeError("join() called from an asynchronous handler would wait for itself")
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Wait for asynchronous handlers, then release the worker pool."""
        # Join before closing so that async handlers may still trigger
        # follow-up events while they finish.
        self.join()
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        with self._lock:
            return self._closed

    def _add(self, event: str | Event, handler: Handler, *, asynchronous: bool) -> None:
        name = _event_name(event)
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {event!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        with self._lock:
            self._sequence += 1
            self._subscriptions.setdefault(name, []).append(
                _Subscription(self._sequence, handler, asynchronous)
            )

    @staticmethod
    def _build(event: str | Event, source: str | None, payload: dict[str, Any]) -> Event:
        if isinstance(event, Event):
            if source is not None or payload:
                raise TypeError("source and payload cannot be given with a ready-made Event")
            built = event
        else:
            built = Event(event, source, payload)
        if not isinstance(built.name, str) or not built.name:
            raise ValueError(f"event name must be a non-empty string, got {built.name!r}")
        if built.name == WILDCARD:
            raise ValueError(f"{WILDCARD!r} is reserved for wildcard subscriptions")
        return built

    def _run(self, handler: Handler, event: Event) -> None:
        try:
            handler(event)
        except Exception as exc:
            self._record(handler, event, exc)

    def _run_async(self, handler: Handler, event: Event) -> None:
        self._local.in_handler = True
        try:
            self._run(handler, event)
        finally:
            self._local.in_handler = False
            with self._idle:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()

    def _record(self, handler: Handler, event: Event, exc: Exception) -> None:
        name = handler_name(handler)
        logger.error("handler %s failed on event %r", name, event.name, exc_info=exc)
        error = HandlerError(
            event=event.name,
            handler=name,
            error=exc,
            traceback="".join(traceback_module.format_exception(exc)),
        )
        with self._lock:
            self._errors.append(error)
