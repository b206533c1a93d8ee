"""One of SEE's example hooks, ported to AASEE, run from a SEE-shaped hooks JSON.

The hook is SEE's ``plugins/timers.py`` ``TimersHook`` (trigger configured events after
configured delays), ported as the README's "Coming from SEE" says: its import of ``Hook``
changes from ``see`` to ``aasee.core``, nothing else. The protocol driving it is the one of
SEE's tutorial ("Plugins and Protocol"): power on, wait for the guest's IP address, announce
it, ask for the sample to run, let it run, power off, analyse.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from aasee.core import Context, ContextBase, Environment, Event, Hook, HookParameters

from .sample_hooks import RecordingContext

WAIT = 10


class TimersHook(Hook):
    """Triggers events at given times (port of SEE's ``plugins.timers.TimersHook``).

    configuration: ``{"timers": {"event_to_trigger": seconds_after_loading, ...}}``
    """

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        timers = self.configuration.get("timers", {})
        self.timers = []
        for event, delay in timers.items():
            timer = threading.Timer(delay, self.context.trigger, args=(event,))
            timer.daemon = True
            self.timers.append(timer)
        for timer in self.timers:
            timer.start()

    def cleanup(self) -> None:
        for timer in self.timers:
            timer.cancel()


class SampleRunnerHook(Hook):
    """A SEE-style hook as SEE users wrote them: string events, payload attributes."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.address: str | None = None
        self.log: list[str] = []
        self.context.subscribe("ip_address", self.set_address_handler)
        self.context.subscribe("run_sample", self.run_sample_handler)
        for event in self.configuration.get("snapshot_on_event", ()):
            self.context.subscribe(event, self.snapshot_handler)

    def set_address_handler(self, event: Event) -> None:
        self.logger.debug("Event %s: agent address <%s>.", event, event.address)
        self.address = event.address

    def run_sample_handler(self, event: Event) -> None:
        command = event.command.format(sample=Path(event.sample).name)
        self.log.append(f"{event}: {command} via {self.address}")

    def snapshot_handler(self, event: Event) -> None:
        # SEE hooks name files after the event and compare it with strings.
        name = "%s_%s.bin" % (self.identifier, event)  # noqa: UP031
        if event == "snapshots_capture" and event.source == "context":
            self.log.append(name)

    def cleanup(self) -> None:
        raise NotImplementedError  # SEE's base class did this; still no error


class AddressedContext(RecordingContext):
    """A recording context that knows its guest's addresses, as the QEMU contexts do."""

    def __init__(self, identifier: str) -> None:
        super().__init__(identifier)
        self._set_network_addresses(mac="52:54:00:12:34:56", ipv4="10.0.2.15")


def wait_for_ip_address(context: Context, timeout: float) -> None:
    """SEE's tutorial, unchanged but for the protocol's own typing."""
    assert isinstance(context, ContextBase)
    timestamp = time.time()
    while time.time() - timestamp < timeout:
        if context.ip4_address is not None:
            context.trigger("ip_address", address=context.ip4_address)
            return
    raise TimeoutError("Waiting for IP address")


def protocol(context: Context, sample_path: str, execution_command: str) -> None:
    context.poweron()
    wait_for_ip_address(context, WAIT)
    context.trigger("run_sample", sample=sample_path, command=execution_command)
    assert isinstance(context, RecordingContext)
    fired = threading.Event()
    context.subscribe("stop_running", lambda event: fired.set())
    assert fired.wait(WAIT), "the timer never fired"
    context.trigger("snapshots_capture")
    context.poweroff()
    context.trigger("start_analysis")
    context.trigger("wait_analysis")


def test_see_timers_hook_and_protocol_run_from_a_see_hooks_json(tmp_path: Path) -> None:
    # A hooks file exactly in SEE's shape: generic configuration, then the hooks.
    hooks_json = tmp_path / "hooks.json"
    hooks_json.write_text(
        json.dumps(
            {
                "configuration": {"results_folder": str(tmp_path / "results")},
                "hooks": [
                    {
                        "name": f"{__name__}.TimersHook",
                        "configuration": {"timers": {"stop_running": 0.05}},
                    },
                    {
                        "name": f"{__name__}.SampleRunnerHook",
                        "configuration": {"snapshot_on_event": ["snapshots_capture"]},
                    },
                ],
            }
        )
    )
    seen: list[Event] = []
    with Environment(AddressedContext, str(hooks_json), identifier="env-see") as environment:
        context = environment.context
        assert isinstance(context, RecordingContext)
        context.subscribe("*", seen.append)
        protocol(context, "/samples/evil.exe", "start {sample}")
        timers, runner = environment.hooks
        assert isinstance(timers, TimersHook) and isinstance(runner, SampleRunnerHook)
        assert runner.configuration["results_folder"] == str(tmp_path / "results")
        assert runner.log == [
            "run_sample: start evil.exe via 10.0.2.15",
            "env-see_snapshots_capture.bin",
        ]
    assert environment.errors == []
    names = [event.name for event in seen]
    assert names == [
        "pre_poweron",
        "post_poweron",
        "ip_address",
        "run_sample",
        "stop_running",
        "snapshots_capture",
        "pre_poweroff",
        "post_poweroff",
        "start_analysis",
        "wait_analysis",
    ]
    assert all(event.source == "context" for event in seen)
    assert [e.timestamp for e in seen] == sorted(e.timestamp for e in seen)


def test_timers_are_cancelled_by_cleanup() -> None:
    fired: list[str] = []
    config = {
        "hooks": [{"name": f"{__name__}.TimersHook", "configuration": {"timers": {"late": 30}}}]
    }
    with Environment(RecordingContext, config) as environment:
        environment.context.subscribe("late", lambda event: fired.append(event.name))
        (hook,) = environment.hooks
        assert isinstance(hook, TimersHook)
    for timer in hook.timers:
        timer.join(WAIT)
        assert not timer.is_alive()
    assert fired == []
