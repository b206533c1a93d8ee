"""Tests of the Context protocol and ContextBase's lifecycle events."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aasee.core import Context, ContextBase, Event, EventBus

from .sample_hooks import RecordingContext


def journaling_context(
    fail_on: frozenset[str] = frozenset(), ready_for: str = "poweron"
) -> RecordingContext:
    """A journaling context brought into a state that allows ``ready_for``, journal empty."""
    context = RecordingContext("env-1", fail_on=fail_on)
    for step in PREREQUISITES[ready_for]:
        getattr(context, step)()
    context.journal.clear()
    context.subscribe("*", lambda event: context.journal.append(event.name))
    return context


# What brings a fresh context into a state where the action is allowed.
PREREQUISITES: dict[str, tuple[str, ...]] = {
    "poweron": (),
    "pause": ("poweron",),
    "resume": ("poweron", "pause"),
    "poweroff": ("poweron",),
    "shutdown": ("poweron",),
    "restart": ("poweron",),
}


ACTIONS: list[tuple[str, Callable[[RecordingContext], None]]] = [
    ("poweron", lambda context: context.poweron()),
    ("pause", lambda context: context.pause()),
    ("resume", lambda context: context.resume()),
    ("poweroff", lambda context: context.poweroff()),
    ("shutdown", lambda context: context.shutdown()),
    ("restart", lambda context: context.restart()),
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
    context = journaling_context(ready_for=action)
    call(context)
    implementation = ["_poweroff", "_poweron"] if action == "restart" else [f"_{action}"]
    assert context.journal == [f"pre_{action}", *implementation, f"post_{action}"]


def test_full_lifecycle_order() -> None:
    context = journaling_context()
    # Every action once, in an order each state allows (shutdown needs a second boot).
    order = ["poweron", "pause", "resume", "poweroff", "poweron", "shutdown"]
    for action in order:
        getattr(context, action)()
    assert context.journal == [
        entry for action in order for entry in (f"pre_{action}", f"_{action}", f"post_{action}")
    ]


@pytest.mark.parametrize(("action", "call"), ACTIONS)
def test_failing_action_fires_no_post_event_and_propagates(
    action: str, call: Callable[[RecordingContext], None]
) -> None:
    failing = "_poweroff" if action == "restart" else f"_{action}"
    context = journaling_context(fail_on=frozenset({failing}), ready_for=action)
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        call(context)
    assert context.journal == [f"pre_{action}", failing]
    assert context.bus.errors == []


def test_shutdown_passes_timeout_through() -> None:
    context = RecordingContext("env-1")
    context.poweron()
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
    seen: list[str] = []
    context.subscribe("*", lambda event: seen.append(event.name))
    assert context.cleanup() is None
    assert seen == []  # no event, nothing released
    # The context (and the bus it owns) still works after the default cleanup.
    context.poweron()
    assert seen == ["pre_poweron", "post_poweron"]
    context.poweroff()
    assert seen == ["pre_poweron", "post_poweron", "pre_poweroff", "post_poweroff"]
