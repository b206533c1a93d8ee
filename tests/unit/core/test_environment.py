"""Tests of Environment allocation, deallocation and error handling."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from aasee.core import (
    ConfigError,
    Environment,
    Event,
    EventBus,
    HandlerError,
    HookLoadError,
    HooksConfig,
)

from .sample_hooks import (
    AsyncHook,
    FailingCleanupHook,
    NotAHook,
    RecordingContext,
    RecordingHook,
    hook_path,
)

WAIT = 10.0


class Factory:
    """Context factory that remembers what it created."""

    def __init__(
        self,
        fail_on: frozenset[str] = frozenset(),
        bus: EventBus | None = None,
        failure: type[BaseException] = RuntimeError,
    ) -> None:
        self.created: list[RecordingContext] = []
        self.fail_on = fail_on
        self.bus = bus
        self.failure = failure

    def __call__(self, identifier: str) -> RecordingContext:
        context = RecordingContext(
            identifier, bus=self.bus, fail_on=self.fail_on, failure=self.failure
        )
        self.created.append(context)
        return context

    @property
    def journal(self) -> list[str]:
        [context] = self.created
        return context.journal


def hooks(*labels_and_classes: tuple[str, type]) -> dict[str, Any]:
    return {
        "hooks": [
            {"name": hook_path(cls), "configuration": {"label": label}}
            for label, cls in labels_and_classes
        ]
    }


TWO_HOOKS = hooks(("a", RecordingHook), ("b", RecordingHook))


class TestConstruction:
    def test_identifier_defaults_to_a_uuid(self) -> None:
        factory = Factory()
        environment = Environment(factory)
        assert str(uuid.UUID(environment.identifier)) == environment.identifier
        assert Environment(factory).identifier != environment.identifier

    def test_identifier_reaches_context_and_hooks(self) -> None:
        factory = Factory()
        with Environment(factory, TWO_HOOKS, identifier="env-42") as environment:
            assert environment.identifier == "env-42"
            assert environment.context.identifier == "env-42"
            assert [hook.identifier for hook in environment.hooks] == ["env-42", "env-42"]

    def test_bad_configuration_fails_before_any_context_exists(self) -> None:
        factory = Factory()
        with pytest.raises(ConfigError, match=r"hooks\[0\]\.name"):
            Environment(factory, {"hooks": [{"configuration": {}}]})
        assert factory.created == []

    def test_configuration_is_validated_and_exposed(self) -> None:
        environment = Environment(Factory(), TWO_HOOKS)
        assert isinstance(environment.configuration, HooksConfig)
        assert [spec.configuration["label"] for spec in environment.configuration.hooks] == [
            "a",
            "b",
        ]

    def test_context_unavailable_when_not_allocated(self) -> None:
        environment = Environment(Factory())
        assert not environment.allocated
        assert environment.hooks == []
        with pytest.raises(RuntimeError, match="not allocated"):
            _ = environment.context


class TestAllocation:
    def test_allocate_creates_context_then_loads_hooks(self) -> None:
        factory = Factory()
        environment = Environment(factory, TWO_HOOKS)
        environment.allocate()
        try:
            assert environment.allocated
            assert environment.context is factory.created[0]
            assert [type(hook) for hook in environment.hooks] == [RecordingHook, RecordingHook]
            environment.context.trigger("ping")
            assert factory.journal == ["a:init", "b:init", "a:ping", "b:ping"]
        finally:
            environment.deallocate()
        assert factory.journal[-3:] == ["b:cleanup", "a:cleanup", "cleanup"]

    def test_allocating_twice_is_refused(self) -> None:
        factory = Factory()
        with Environment(factory, TWO_HOOKS) as environment:
            with pytest.raises(RuntimeError, match="already allocated"):
                environment.allocate()
            assert len(factory.created) == 1

    def test_environment_can_be_allocated_again_after_deallocation(self) -> None:
        factory = Factory()
        environment = Environment(factory, TWO_HOOKS)
        with environment:
            pass
        with environment:
            assert environment.context is factory.created[1]
        assert factory.created[0] is not factory.created[1]

    def test_failed_hook_load_releases_the_context(self) -> None:
        factory = Factory()
        environment = Environment(
            factory, hooks(("a", RecordingHook), ("bad", NotAHook), ("c", RecordingHook))
        )
        with pytest.raises(HookLoadError, match="NotAHook"):
            environment.allocate()
        assert factory.journal == ["a:init", "a:cleanup", "cleanup"]
        assert factory.created[0].bus.closed
        assert not environment.allocated
        environment.deallocate()  # nothing left to do
        assert factory.journal == ["a:init", "a:cleanup", "cleanup"]

    def test_failed_hook_load_keeps_its_error_when_context_cleanup_fails(self) -> None:
        factory = Factory(fail_on=frozenset({"cleanup"}))
        environment = Environment(factory, hooks(("bad", NotAHook)))
        with pytest.raises(HookLoadError):
            environment.allocate()
        assert factory.journal == ["cleanup"]
        assert [str(error) for error in environment.errors] == ["cleanup failed"]

    def test_factory_must_return_a_context(self) -> None:
        environment = Environment(lambda identifier: object())  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="not a Context"):
            environment.allocate()

    def test_context_without_a_bus_is_supported(self) -> None:
        class BareContext:
            """Satisfies the Context protocol without ContextBase."""

            def __init__(self, identifier: str) -> None:
                self.identifier = identifier
                self.cleaned = False
                self._bus = EventBus()

            def subscribe(self, event: str, handler: Any) -> None:
                self._bus.subscribe(event, handler)

            def subscribe_async(self, event: str, handler: Any) -> None:
                self._bus.subscribe_async(event, handler)

            def unsubscribe(self, event: str, handler: Any) -> None:
                self._bus.unsubscribe(event, handler)

            def trigger(self, event: Any, source: str | None = None, **payload: Any) -> Event:
                return self._bus.trigger(event, source, **payload)

            def poweron(self) -> None: ...
            def pause(self) -> None: ...
            def resume(self) -> None: ...
            def poweroff(self) -> None: ...
            def shutdown(self, timeout: float | None = None) -> None: ...

            def cleanup(self) -> None:
                self.cleaned = True
                self._bus.close()

        created: list[BareContext] = []

        def factory(identifier: str) -> BareContext:
            created.append(BareContext(identifier))
            return created[-1]

        with Environment(factory) as environment:
            environment.context.poweron()
        assert created[0].cleaned
        assert environment.errors == []


class TestDeallocation:
    def test_exception_in_with_block_still_cleans_up(self) -> None:
        factory = Factory()
        with pytest.raises(ZeroDivisionError):
            with Environment(factory, TWO_HOOKS):
                _ = 1 / 0
        assert factory.journal == ["a:init", "b:init", "b:cleanup", "a:cleanup", "cleanup"]

    def test_keyboard_interrupt_in_with_block_still_cleans_up(self) -> None:
        factory = Factory()
        with pytest.raises(KeyboardInterrupt):
            with Environment(factory, TWO_HOOKS):
                raise KeyboardInterrupt
        assert factory.journal == ["a:init", "b:init", "b:cleanup", "a:cleanup", "cleanup"]

    def test_deallocate_is_idempotent(self) -> None:
        factory = Factory()
        environment = Environment(factory, TWO_HOOKS)
        environment.allocate()
        environment.deallocate()
        environment.deallocate()
        assert factory.journal.count("cleanup") == 1
        assert factory.journal.count("a:cleanup") == 1
        assert not environment.allocated
        with pytest.raises(RuntimeError):
            _ = environment.context

    def test_owned_bus_is_closed_but_shared_bus_is_not(self) -> None:
        owned = Factory()
        with Environment(owned):
            pass
        assert owned.created[0].bus.closed

        shared_bus = EventBus()
        shared = Factory(bus=shared_bus)
        with Environment(shared):
            pass
        assert not shared_bus.closed
        shared_bus.close()

    def test_async_handlers_are_joined_before_hooks_are_cleaned(self) -> None:
        started, gate = threading.Event(), threading.Event()
        factory = Factory()
        config = {
            "hooks": [
                {
                    "name": hook_path(AsyncHook),
                    "configuration": {"label": "h", "started": started, "gate": gate},
                }
            ]
        }
        environment = Environment(factory, config)
        environment.allocate()
        environment.context.trigger("ping")
        assert started.wait(WAIT)

        deallocating = threading.Thread(target=environment.deallocate)
        deallocating.start()
        deallocating.join(0.05)
        assert deallocating.is_alive()  # waiting for the gated async handler
        assert "h:cleanup" not in factory.journal

        gate.set()
        deallocating.join(WAIT)
        assert not deallocating.is_alive()
        assert factory.journal == ["h:init", "h:ping", "h:async-ping-done", "h:cleanup", "cleanup"]
        assert environment.errors == []

    def test_join_timeout_is_reported_and_cleanup_still_runs(self) -> None:
        started, gate = threading.Event(), threading.Event()
        factory = Factory()
        config = {
            "hooks": [
                {
                    "name": hook_path(AsyncHook),
                    "configuration": {"label": "h", "started": started, "gate": gate},
                }
            ]
        }
        environment = Environment(factory, config, join_timeout=0.05)
        environment.allocate()
        environment.context.trigger("ping")
        assert started.wait(WAIT)
        try:
            with pytest.raises(TimeoutError, match="still running"):
                environment.deallocate()
            assert factory.journal[-2:] == ["h:cleanup", "cleanup"]
            assert [type(error) for error in environment.errors] == [TimeoutError]
            assert not factory.created[0].bus.closed  # closing would wait without limit
        finally:
            gate.set()
            bus = factory.created[0].bus
            assert bus.join(WAIT)
            bus.close()

    def test_every_step_runs_and_first_error_is_raised(self) -> None:
        factory = Factory(fail_on=frozenset({"cleanup"}))
        environment = Environment(factory, hooks(("a", FailingCleanupHook), ("b", RecordingHook)))
        environment.allocate()
        with pytest.raises(OSError, match="a cleanup failed") as raised:
            environment.deallocate()
        assert factory.journal == ["a:init", "b:init", "b:cleanup", "a:cleanup", "cleanup"]
        assert any("cleanup failed" in note for note in raised.value.__notes__)
        assert [str(error) for error in environment.errors] == [
            "a cleanup failed",
            "cleanup failed",
        ]
        assert not environment.allocated

    def test_body_exception_wins_over_deallocation_error(self) -> None:
        factory = Factory(fail_on=frozenset({"cleanup"}))
        with pytest.raises(ZeroDivisionError):
            with Environment(factory) as environment:
                _ = 1 / 0
        assert factory.journal == ["cleanup"]
        assert [str(error) for error in environment.errors] == ["cleanup failed"]

    def test_interrupt_during_deallocation_is_not_swallowed(self) -> None:
        factory = Factory(fail_on=frozenset({"cleanup"}), failure=KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            with Environment(factory, TWO_HOOKS):
                _ = 1 / 0
        assert factory.journal[-3:] == ["b:cleanup", "a:cleanup", "cleanup"]

    def test_deallocation_error_raised_from_clean_with_block(self) -> None:
        factory = Factory(fail_on=frozenset({"cleanup"}))
        with pytest.raises(RuntimeError, match="cleanup failed"):
            with Environment(factory):
                pass


def test_errors_include_handler_errors_after_deallocation() -> None:
    def broken(event: Event) -> None:
        raise ValueError("handler broke")

    factory = Factory()
    with Environment(factory) as environment:
        environment.context.subscribe("ping", broken)
        environment.context.trigger("ping")
    [error] = environment.errors
    assert isinstance(error, HandlerError)
    assert error.handler.endswith("broken")
    assert isinstance(error.error, ValueError)
