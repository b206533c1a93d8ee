"""The behaviours of F-Secure SEE's public API that SEE hooks and protocols rely on.

Each test names the SEE behaviour it holds AASEE's core to; the README's "Coming from SEE"
lists where AASEE differs on purpose.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from typing import Any

import pytest

from aasee.core import (
    CONTEXT_SOURCE,
    ContextBase,
    ContextState,
    ContextStateError,
    Environment,
    Event,
    EventBus,
    Hook,
    HookManager,
    HookParameters,
    HooksConfig,
    NetworkAddresses,
)

from .sample_hooks import RecordingContext

WAIT = 10


def recording(context: ContextBase) -> list[Event]:
    seen: list[Event] = []
    context.subscribe("*", seen.append)
    return seen


# --- restart --------------------------------------------------------------------------------
def test_restart_fires_pre_and_post_restart_around_the_implementation() -> None:
    context = RecordingContext("env-1")
    context.poweron()
    context.journal.clear()
    context.subscribe("*", lambda event: context.journal.append(event.name))
    context.restart()
    assert context.journal == ["pre_restart", "_poweroff", "_poweron", "post_restart"]
    assert context.state == "running"


def test_restart_uses_the_context_s_own_reboot_when_it_has_one() -> None:
    class Rebooting(RecordingContext):
        def _restart(self) -> None:
            self._act("_reboot")

    context = Rebooting("env-1")
    context.poweron()
    context.restart(reason="hung")
    assert context.journal[-1] == "_reboot"


# --- keyword arguments as payload -----------------------------------------------------------
@pytest.mark.parametrize(
    ("prepare", "action"),
    [
        ((), "poweron"),
        (("poweron",), "pause"),
        (("poweron", "pause"), "resume"),
        (("poweron",), "poweroff"),
        (("poweron",), "shutdown"),
        (("poweron",), "restart"),
    ],
)
def test_lifecycle_keyword_arguments_are_the_events_payload(
    prepare: tuple[str, ...], action: str
) -> None:
    context = RecordingContext("env-1")
    for step in prepare:
        getattr(context, step)()
    seen = recording(context)
    getattr(context, action)(sample="/tmp/x.exe", attempt=2)
    assert [event.name for event in seen] == [f"pre_{action}", f"post_{action}"]
    for event in seen:
        assert event.sample == "/tmp/x.exe"
        assert event.attempt == 2
        assert event.source == CONTEXT_SOURCE


def test_payload_keys_named_like_trigger_parameters_stay_payload() -> None:
    context = RecordingContext("env-1")
    seen = recording(context)
    context.poweron(source="operator", event="manual")
    assert seen[0].source == CONTEXT_SOURCE
    assert seen[0].payload == {"source": "operator", "event": "manual"}


def test_shutdown_timeout_is_payload_next_to_the_keywords() -> None:
    context = RecordingContext("env-1")
    context.poweron()
    seen = recording(context)
    context.shutdown(timeout=5, reason="done")
    assert seen[0].payload == {"timeout": 5, "reason": "done"}
    assert context.shutdown_timeout == 5


# --- timestamp ------------------------------------------------------------------------------
def test_event_timestamp_is_taken_when_the_event_is_built() -> None:
    before = time.time()
    event = Event("e")
    after = time.time()
    assert before <= event.timestamp <= after


def test_triggered_events_carry_their_build_time() -> None:
    bus = EventBus()
    try:
        before = time.time()
        event = bus.trigger("e", value=1)
        assert before <= event.timestamp <= time.time()
    finally:
        bus.close()


def test_timestamp_survives_pickling_and_is_not_part_of_equality() -> None:
    event = Event("e", "src", {"value": 1}, timestamp=12.5)
    clone = pickle.loads(pickle.dumps(event))
    assert clone.timestamp == 12.5
    assert Event("e", "src", {"value": 1}, timestamp=99.0) == event


# --- state transitions ----------------------------------------------------------------------
def test_a_new_context_is_created_and_walks_through_the_states() -> None:
    context = RecordingContext("env-1")
    assert context.state == ContextState.CREATED == "created"
    assert context.allowed_actions() == ("poweron",)
    context.poweron()
    assert context.state == "running"
    assert context.allowed_actions() == ("pause", "poweroff", "shutdown", "restart")
    context.pause()
    assert context.state == "paused"
    assert context.allowed_actions() == ("resume", "poweroff")
    context.resume()
    context.shutdown()
    assert context.state == "stopped"
    context.poweron()
    assert context.state == "running"


REFUSED = [
    ((), "pause"),
    ((), "resume"),
    ((), "poweroff"),
    ((), "shutdown"),
    ((), "restart"),
    (("poweron",), "poweron"),
    (("poweron",), "resume"),
    (("poweron", "pause"), "pause"),
    (("poweron", "pause"), "shutdown"),
    (("poweron", "pause"), "restart"),
    (("poweron", "pause"), "poweron"),
    (("poweron", "poweroff"), "poweroff"),
    (("poweron", "poweroff"), "shutdown"),
    (("poweron", "poweroff"), "pause"),
]


@pytest.mark.parametrize(("prepare", "action"), REFUSED)
def test_an_action_the_state_does_not_allow_is_refused_before_its_pre_event(
    prepare: tuple[str, ...], action: str
) -> None:
    context = RecordingContext("env-1")
    for step in prepare:
        getattr(context, step)()
    state = context.state
    seen = recording(context)
    journal = list(context.journal)
    with pytest.raises(ContextStateError) as raised:
        getattr(context, action)()
    assert seen == []  # not even pre_<action>
    assert context.journal == journal  # the implementation never ran
    assert context.state == state
    message = str(raised.value)
    assert f"cannot {action} context env-1" in message
    assert f"it is {state}" in message
    assert isinstance(raised.value, RuntimeError)  # what SEE raised
    assert pickle.loads(pickle.dumps(raised.value)).args == raised.value.args


def test_a_failing_action_leaves_the_state_as_it_was() -> None:
    context = RecordingContext("env-1", fail_on=frozenset({"_poweron"}))
    with pytest.raises(RuntimeError, match="_poweron failed"):
        context.poweron()
    assert context.state == "created"
    context.fail_on = frozenset()
    context.poweron()
    assert context.state == "running"


def test_an_action_started_while_another_is_under_way_is_refused() -> None:
    context = RecordingContext("env-1")
    refusals: list[str] = []

    def meddle(event: Event) -> None:
        try:
            context.poweroff()
        except ContextStateError as exc:
            refusals.append(str(exc))

    context.subscribe("pre_poweron", meddle)
    context.poweron()
    assert refusals == ["cannot poweroff context env-1: it is busy with poweron"]
    assert context.state == "running"


def test_handlers_of_post_events_see_the_new_state_and_may_act_on_it() -> None:
    context = RecordingContext("env-1")
    states: list[str] = []
    context.subscribe("post_poweron", lambda event: states.append(context.state))
    context.subscribe("post_poweron", lambda event: context.pause())
    context.poweron()
    assert states == ["running"]
    assert context.state == "paused"


def test_a_context_may_declare_its_own_transitions() -> None:
    class OneShot(RecordingContext):
        transitions = {"created": {"poweron": "running"}, "running": {"poweroff": "stopped"}}

    context = OneShot("env-1")
    context.poweron()
    context.poweroff()
    with pytest.raises(ContextStateError, match="allowed when stopped: nothing"):
        context.poweron()


# --- addresses ------------------------------------------------------------------------------
def test_addresses_are_unknown_by_default() -> None:
    context = RecordingContext("env-1")
    assert context.network_addresses() == NetworkAddresses()
    assert (context.mac_address, context.ip4_address, context.ip6_address) == (None, None, None)
    assert context.ip_address is None


def test_a_context_fills_in_its_addresses() -> None:
    class Addressed(RecordingContext):
        def __init__(self, identifier: str) -> None:
            super().__init__(identifier)
            self._set_network_addresses(mac="52:54:00:ab:cd:ef", ipv4="10.0.2.15")

    context = Addressed("env-1")
    assert context.mac_address == "52:54:00:ab:cd:ef"
    assert context.ip4_address == context.ip_address == "10.0.2.15"
    assert context.ip6_address is None


def test_a_context_may_compute_its_addresses() -> None:
    class Computed(RecordingContext):
        def network_addresses(self) -> NetworkAddresses:
            return NetworkAddresses(ipv6="fe80::1")

    context = Computed("env-1")
    assert context.ip6_address == context.ip_address == "fe80::1"


# --- unsubscribe ----------------------------------------------------------------------------
def test_unsubscribe_removes_the_synchronous_and_the_asynchronous_subscription() -> None:
    context = RecordingContext("env-1")
    calls: list[str] = []

    def handler(event: Event) -> None:
        calls.append(event.name)

    context.subscribe("e", handler)
    context.subscribe_async("e", handler)
    context.unsubscribe("e", handler)
    context.trigger("e")
    assert context.bus.join(WAIT)
    assert calls == []
    with pytest.raises(ValueError, match="not subscribed"):
        context.unsubscribe("e", handler)


def test_unsubscribe_leaves_other_handlers_alone() -> None:
    context = RecordingContext("env-1")
    calls: list[str] = []
    context.subscribe("e", calls.append)  # type: ignore[arg-type]
    context.subscribe("e", lambda event: calls.append("other"))  # type: ignore[arg-type,func-returns-value]
    context.unsubscribe("e", calls.append)  # type: ignore[arg-type]
    context.trigger("e")
    assert calls == ["other"]


# --- source ---------------------------------------------------------------------------------
def test_a_plain_trigger_names_the_context_as_its_source() -> None:
    context = RecordingContext("env-1")
    assert context.trigger("e").source == CONTEXT_SOURCE
    assert context.trigger("e", source="hook").source == "hook"
    ready = Event("e", "elsewhere")
    assert context.trigger(ready).source == "elsewhere"


# --- events that stand for their name -------------------------------------------------------
def test_an_event_compares_equal_to_its_name() -> None:
    event = Event("post_poweron", "context", {"x": 1})
    assert event == "post_poweron"
    assert "post_poweron" == event
    assert event != "pre_poweron"
    assert event in ("pre_poweron", "post_poweron")
    assert event in {"post_poweron"}
    assert {"post_poweron": 1}[event] == 1  # type: ignore[index]
    assert hash(event) == hash("post_poweron")


def test_an_event_formats_as_its_name() -> None:
    event = Event("memory_dump", "context", {"path": "/tmp/x"})
    assert str(event) == "memory_dump"
    assert "%s_%s.bin" % ("run", event) == "run_memory_dump.bin"  # noqa: UP031
    assert f"{event}" == f"{event:s}" == "memory_dump"
    assert f"[{event:>12}]" == "[ memory_dump]"
    assert event + ".log" == "memory_dump.log"
    assert "on_" + event == "on_memory_dump"


def test_events_are_built_with_keyword_payload_as_in_see() -> None:
    event = Event("run_command", command="ls -al", timeout=3)
    assert event.command == "ls -al"
    assert hasattr(event, "timeout") and not hasattr(event, "missing")
    assert Event("e", None, {"a": 1}, b=2).payload == {"a": 1, "b": 2}
    assert Event(Event("renamed")).name == "renamed"


def test_subscribing_with_an_event_subscribes_to_its_name() -> None:
    context = RecordingContext("env-1")
    calls: list[Event] = []
    context.subscribe(Event("ip_address"), calls.append)
    context.trigger("ip_address", address="10.0.2.15")
    assert [event.address for event in calls] == ["10.0.2.15"]
    context.unsubscribe(Event("ip_address"), calls.append)
    context.trigger("ip_address", address="x")
    assert len(calls) == 1


# --- hooks and cleanup ----------------------------------------------------------------------
class SeeStyleHook(Hook):
    """A SEE hook without resources: SEE's base cleanup raised NotImplementedError."""

    def cleanup(self) -> None:
        raise NotImplementedError("Not implemented")


def test_hook_offers_identifier_configuration_context_and_logger() -> None:
    context = RecordingContext("env-1")
    hook = Hook(HookParameters("env-1", {"k": "v"}, context))
    assert (hook.identifier, dict(hook.configuration), hook.context) == (
        "env-1",
        {"k": "v"},
        context,
    )
    assert isinstance(hook.logger, logging.Logger)
    assert hook.cleanup() is None


def test_not_implemented_cleanup_of_a_hook_is_no_error() -> None:
    context = RecordingContext("env-1")
    config = HooksConfig.model_validate({"hooks": [{"name": f"{__name__}.SeeStyleHook"}]})
    manager = HookManager("env-1", config, context)
    manager.load()
    assert manager.cleanup() == []


def test_not_implemented_cleanup_of_a_context_is_no_error() -> None:
    class SeeStyleContext(RecordingContext):
        def cleanup(self) -> None:
            raise NotImplementedError("Not implemented")

    with Environment(SeeStyleContext) as environment:
        environment.context.poweron()
    assert environment.errors == []


def test_environment_takes_a_logger_as_see_s_did(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("my.protocol")

    class BrokenCleanup(RecordingContext):
        def cleanup(self) -> None:
            raise OSError("disk gone")

    environment = Environment(BrokenCleanup, {}, "env-1", logger)
    assert environment.logger is logger
    environment.allocate()
    with caplog.at_level(logging.ERROR, logger="my.protocol"), pytest.raises(OSError):
        environment.deallocate()
    assert any(record.name == "my.protocol" for record in caplog.records)


def test_async_handlers_see_the_same_event_payload(monkeypatch: Any) -> None:
    context = RecordingContext("env-1")
    got: list[Event] = []
    done = threading.Event()

    def handler(event: Event) -> None:
        got.append(event)
        done.set()

    context.subscribe_async("post_poweron", handler)
    context.poweron(sample="s")
    assert done.wait(WAIT)
    assert got[0] == "post_poweron" and got[0].sample == "s"
