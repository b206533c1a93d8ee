"""Tests of the Context protocol and ContextBase's lifecycle events."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aasee.core import Context, ContextBase, Event, EventBus

from .sample_hooks import RecordingContext


def journaling_context(fail_on: frozenset[str] = frozenset()) -> RecordingContext:
    context = RecordingContext("env-1", fail_on=fail_on)
    context.subscribe("*", lambda event: context.journal.append(event.name))
    return context


ACTIONS: list[tuple[str, Callable[[RecordingContext], None]]] = [
    ("poweron", lambda context: context.poweron()),
    ("pause", lambda context: context.pause()),
    ("resume", lambda context: context.resume()),
    ("poweroff", lambda context: context.poweroff()),
    ("shutdown", lambda context: context.shutdown()),
]


def test_context_base_satisfies_the_protocol() -> None:
    context: Context = RecordingContext("env-1")
    assert isinstance(context, Context)
    assert context.identifier == "env-1"
    assert not isinstance(object(), Context)


def test_context_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ContextBase("env-1")  # type: ignore[abstract]


@pytest.mark.parametrize(("action", "call"), ACTIONS)
def test_action_is_wrapped_in_pre_and_post_events(
    action: str, call: Callable[[RecordingContext], None]
) -> None:
    context = journaling_context()
    call(context)
    assert context.journal == [f"pre_{action}", f"_{action}", f"post_{action}"]


def test_full_lifecycle_order() -> None:
    context = journaling_context()
    for _, call in ACTIONS:
        call(context)
    assert context.journal == [
        entry
        for action, _ in ACTIONS
        for entry in (f"pre_{action}", f"_{action}", f"post_{action}")
    ]


@pytest.mark.parametrize(("action", "call"), ACTIONS)
def test_failing_action_fires_no_post_event_and_propagates(
    action: str, call: Callable[[RecordingContext], None]
) -> None:
    context = journaling_context(fail_on=frozenset({f"_{action}"}))
    with pytest.raises(RuntimeError, match=f"_{action} failed"):
        call(context)
    assert context.journal == [f"pre_{action}", f"_{action}"]
    assert context.bus.errors == []


def test_shutdown_passes_timeout_through() -> None:
    context = RecordingContext("env-1")
    seen: list[Event] = []
    context.subscribe("pre_shutdown", seen.append)
    context.shutdown(timeout=12.5)
    assert context.shutdown_timeout == 12.5
    assert seen[0].timeout == 12.5


def test_lifecycle_events_name_the_context_as_source() -> None:
    context = RecordingContext("env-1")
    seen: list[Event] = []
    context.subscribe("*", seen.append)
    context.poweron()
    assert {event.source for event in seen} == {"context"}


def test_subscriptions_are_delegated_to_the_bus() -> None:
    bus = EventBus()
    try:
        context = RecordingContext("env-1", bus=bus)
        assert context.bus is bus
        assert not context.owns_bus
        seen: list[str] = []

        def handler(event: Event) -> None:
            seen.append(event.name)

        context.subscribe("x", handler)
        bus.trigger("x")
        context.trigger("x", source="me", value=1)
        context.unsubscribe("x", handler)
        context.trigger("x")
        assert seen == ["x", "x"]

        context.subscribe_async("y", handler)
        context.trigger("y")
        assert bus.join(10)
        assert seen == ["x", "x", "y"]
    finally:
        bus.close()


def test_context_creates_its_own_bus_by_default() -> None:
    context = RecordingContext("env-1")
    assert isinstance(context.bus, EventBus)
    assert context.owns_bus
    assert RecordingContext("env-2").bus is not context.bus


def test_default_cleanup_does_nothing() -> None:
    class Minimal(ContextBase):
        def _poweron(self) -> None: ...
        def _pause(self) -> None: ...
        def _resume(self) -> None: ...
        def _poweroff(self) -> None: ...
        def _shutdown(self, timeout: float | None) -> None: ...

    context = Minimal("env-1")
    context.cleanup()
    context.poweron()
