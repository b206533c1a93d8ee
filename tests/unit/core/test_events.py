"""Tests of Event and EventBus."""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
import threading
from typing import Any

import pytest

from aasee.core import Event, EventBus, HandlerError

WAIT = 10.0  # generous upper bound; only reached if the code under test is broken


@pytest.fixture
def bus() -> Any:
    bus = EventBus()
    yield bus
    bus.close()


class TestEvent:
    def test_payload_keys_are_attributes(self) -> None:
        event = Event("sample_ready", "test", {"sample_path": "/tmp/x.exe"})
        assert event.sample_path == "/tmp/x.exe"
        assert event.name == "sample_ready"
        assert event.source == "test"

    def test_unknown_attribute_raises(self) -> None:
        event = Event("sample_ready", None, {"a": 1})
        with pytest.raises(AttributeError, match="'missing'"):
            _ = event.missing

    def test_each_instance_has_its_own_payload(self) -> None:
        first = Event("same", None, {"value": 1})
        second = Event("same", None, {"value": 2})
        assert first.value == 1
        assert second.value == 2
        assert first.payload is not second.payload
        assert not hasattr(Event, "value")
        assert not hasattr(Event("same"), "value")

    def test_payload_is_copied_and_read_only(self) -> None:
        data = {"value": 1}
        event = Event("e", None, data)
        data["value"] = 2
        data["extra"] = 3
        assert event.payload == {"value": 1}
        with pytest.raises(TypeError):
            event.payload["value"] = 5  # type: ignore[index]

    def test_fields_are_frozen(self) -> None:
        event = Event("e", None, {"value": 1})
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.value = 2  # type: ignore[attr-defined]
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.name = "other"  # type: ignore[misc]

    def test_copy_and_hash_and_equality(self) -> None:
        event = Event("e", "src", {"value": [1]})
        clone = pickle.loads(pickle.dumps(dataclasses.replace(event)))
        assert clone == event
        assert copy.deepcopy(event) == event
        assert copy.deepcopy(event).payload["value"] is not event.payload["value"]
        assert hash(clone) == hash(event)
        assert Event("e", "src", {"value": [2]}) != event


class TestTriggerPayload:
    def test_handlers_see_the_payload_of_their_own_trigger(self, bus: EventBus) -> None:
        seen: list[Event] = []
        bus.subscribe("analysis_done", seen.append)

        first = bus.trigger("analysis_done", "a", verdict="clean")
        second = bus.trigger("analysis_done", "b", verdict="malicious", score=9)

        assert [event.verdict for event in seen] == ["clean", "malicious"]
        assert seen == [first, second]
        assert "score" not in first.payload
        assert second.score == 9
        assert (first.source, second.source) == ("a", "b")

    def test_handler_cannot_change_what_later_handlers_see(self, bus: EventBus) -> None:
        def tamper(event: Event) -> None:
            event.payload["verdict"] = "clean"  # type: ignore[index]

        seen: list[str] = []
        bus.subscribe("e", tamper)
        bus.subscribe("e", lambda event: seen.append(event.verdict))

        bus.trigger("e", verdict="malicious")

        assert seen == ["malicious"]
        assert len(bus.errors) == 1
        assert isinstance(bus.errors[0].error, TypeError)

    def test_trigger_accepts_a_ready_event(self, bus: EventBus) -> None:
        seen: list[Event] = []
        bus.subscribe("e", seen.append)
        event = Event("e", "me", {"x": 1})
        assert bus.trigger(event) is event
        assert seen == [event]

    def test_ready_event_with_extra_payload_is_rejected(self, bus: EventBus) -> None:
        with pytest.raises(TypeError):
            bus.trigger(Event("e"), x=1)

    @pytest.mark.parametrize("name", ["", "*"])
    def test_invalid_event_names_are_rejected(self, bus: EventBus, name: str) -> None:
        with pytest.raises(ValueError):
            bus.trigger(name)


class TestSynchronousHandlers:
    def test_run_in_subscription_order_before_trigger_returns(self, bus: EventBus) -> None:
        calls: list[str] = []
        caller = threading.get_ident()
        threads: set[int] = set()

        def make(label: str) -> Any:
            def handler(event: Event) -> None:
                threads.add(threading.get_ident())
                calls.append(label)

            return handler

        for label in ["first", "second", "third"]:
            bus.subscribe("e", make(label))
        bus.subscribe("other", make("unrelated"))

        bus.trigger("e")

        assert calls == ["first", "second", "third"]
        assert threads == {caller}

    def test_wildcard_receives_every_event_in_subscription_order(self, bus: EventBus) -> None:
        calls: list[tuple[str, str]] = []
        bus.subscribe("a", lambda event: calls.append(("a-handler", event.name)))
        bus.subscribe("*", lambda event: calls.append(("wildcard", event.name)))
        bus.subscribe("a", lambda event: calls.append(("late-a-handler", event.name)))

        bus.trigger("a")
        bus.trigger("b")

        assert calls == [
            ("a-handler", "a"),
            ("wildcard", "a"),
            ("late-a-handler", "a"),
            ("wildcard", "b"),
        ]

    def test_handler_may_trigger_and_subscribe_reentrantly(self, bus: EventBus) -> None:
        calls: list[str] = []

        def outer(event: Event) -> None:
            calls.append("outer")
            bus.subscribe("inner", lambda _: calls.append("late"))
            bus.trigger("inner")

        bus.subscribe("outer", outer)
        bus.subscribe("inner", lambda _: calls.append("inner"))

        bus.trigger("outer")

        assert calls == ["outer", "inner", "late"]

    def test_unsubscribe(self, bus: EventBus) -> None:
        calls: list[str] = []

        class Listener:
            def on_event(self, event: Event) -> None:
                calls.append(event.name)

        listener = Listener()
        bus.subscribe("e", listener.on_event)
        bus.trigger("e")
        # A fresh bound method must match the one subscribed.
        bus.unsubscribe("e", listener.on_event)
        bus.trigger("e")

        assert calls == ["e"]
        with pytest.raises(ValueError, match="not subscribed"):
            bus.unsubscribe("e", listener.on_event)

    def test_unsubscribe_removes_async_subscriptions(self, bus: EventBus) -> None:
        calls: list[str] = []
        handler = calls.append
        bus.subscribe_async("e", handler)  # type: ignore[arg-type]
        bus.unsubscribe("e", handler)  # type: ignore[arg-type]
        bus.trigger("e")
        assert bus.join(WAIT)
        assert calls == []


def exploding(event: Event) -> None:
    raise RuntimeError(f"cannot handle {event.name}")


class TestHandlerErrors:
    def test_raising_handler_does_not_stop_others(
        self, bus: EventBus, caplog: pytest.LogCaptureFixture
    ) -> None:
        calls: list[str] = []
        bus.subscribe("e", lambda _: calls.append("before"))
        bus.subscribe("e", exploding)
        bus.subscribe("e", lambda _: calls.append("after"))

        with caplog.at_level(logging.ERROR, logger="aasee.core.events"):
            bus.trigger("e")

        assert calls == ["before", "after"]
        [error] = bus.errors
        assert isinstance(error, HandlerError)
        assert error.event == "e"
        assert error.handler == f"{__name__}.exploding"
        assert isinstance(error.error, RuntimeError)
        assert "cannot handle e" in error.traceback
        assert "Traceback" in error.traceback
        assert f"{__name__}.exploding" in str(error)
        assert "RuntimeError: cannot handle e" in str(error)

        [record] = [r for r in caplog.records if r.name == "aasee.core.events"]
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert "exploding" in record.getMessage()

    def test_errors_is_a_copy(self, bus: EventBus) -> None:
        bus.subscribe("e", exploding)
        bus.trigger("e")
        bus.errors.clear()
        assert len(bus.errors) == 1

    def test_async_handler_error_is_recorded(self, bus: EventBus) -> None:
        ran = threading.Event()

        def sibling(_: Event) -> None:
            ran.set()

        bus.subscribe_async("e", exploding)
        bus.subscribe_async("e", sibling)
        bus.trigger("e")

        assert bus.join(WAIT)
        assert ran.is_set()
        assert [error.handler for error in bus.errors] == [f"{__name__}.exploding"]


class TestAsynchronousHandlers:
    def test_run_on_another_thread_and_are_joined(self, bus: EventBus) -> None:
        started = threading.Event()
        gate = threading.Event()
        finished = threading.Event()
        handler_thread: list[int] = []

        def slow(event: Event) -> None:
            handler_thread.append(threading.get_ident())
            started.set()
            gate.wait(WAIT)
            finished.set()

        bus.subscribe_async("e", slow)
        bus.trigger("e")

        # trigger() returned while the handler is still blocked on the gate.
        assert started.wait(WAIT)
        assert not finished.is_set()
        assert bus.join(timeout=0.05) is False

        gate.set()
        assert bus.join(WAIT) is True
        assert finished.is_set()
        assert handler_thread[0] != threading.get_ident()

    def test_async_handlers_start_before_sync_handlers_run(self, bus: EventBus) -> None:
        async_started = threading.Event()
        observed: list[bool] = []
        bus.subscribe_async("e", lambda _: async_started.set())
        # Waiting here only succeeds if the async handler was started first.
        bus.subscribe("e", lambda _: observed.append(async_started.wait(WAIT)))

        bus.trigger("e")

        assert observed == [True]

    def test_join_waits_for_handlers_started_by_handlers(self, bus: EventBus) -> None:
        gate = threading.Event()
        done: list[str] = []

        def first(_: Event) -> None:
            bus.trigger("second")

        def second(_: Event) -> None:
            gate.wait(WAIT)
            done.append("second")

        bus.subscribe_async("first", first)
        bus.subscribe_async("second", second)
        bus.trigger("first")
        assert bus.join(timeout=0.05) is False
        gate.set()

        assert bus.join(WAIT)
        assert done == ["second"]

    def test_join_from_async_handler_is_refused(self, bus: EventBus) -> None:
        bus.subscribe_async("e", lambda _: bus.join())
        bus.trigger("e")
        assert bus.join(WAIT)
        [error] = bus.errors
        assert isinstance(error.error, RuntimeError)

    def test_wildcard_async(self, bus: EventBus) -> None:
        names: list[str] = []
        lock = threading.Lock()

        def record(event: Event) -> None:
            with lock:
                names.append(event.name)

        bus.subscribe_async("*", record)
        bus.trigger("a")
        bus.trigger("b")
        assert bus.join(WAIT)
        assert sorted(names) == ["a", "b"]


class TestClose:
    def test_close_waits_for_handlers_then_refuses_triggers(self) -> None:
        bus = EventBus()
        gate = threading.Event()
        finished = threading.Event()

        def slow(_: Event) -> None:
            gate.wait(WAIT)
            finished.set()

        bus.subscribe_async("e", slow)
        bus.trigger("e")
        closer = threading.Thread(target=bus.close)
        closer.start()
        closer.join(0.05)
        assert closer.is_alive()  # still waiting for the gated handler

        gate.set()
        closer.join(WAIT)
        assert not closer.is_alive()
        assert finished.is_set()
        assert bus.closed
        with pytest.raises(RuntimeError, match="closed"):
            bus.trigger("e")

    def test_close_is_idempotent(self) -> None:
        bus = EventBus()
        bus.close()
        bus.close()
        assert bus.closed


def test_thread_safety_under_concurrent_triggers() -> None:
    bus = EventBus(max_workers=4)
    counts: dict[str, int] = {"sync": 0, "async": 0}
    lock = threading.Lock()

    def count(kind: str) -> Any:
        def handler(_: Event) -> None:
            with lock:
                counts[kind] += 1

        return handler

    bus.subscribe("e", count("sync"))
    bus.subscribe_async("e", count("async"))
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(WAIT)
        for _ in range(50):
            bus.trigger("e")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    bus.close()

    assert counts == {"sync": 400, "async": 400}
    assert bus.errors == []
