"""ConsoleLogHook: the serial console copied at its configured events, and always at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.core import HookLoadError

from .fake_qemu import FakeQemuContext, load

HOOK = "aasee.hooks.console.ConsoleLogHook"


def test_copied_at_power_off_by_default(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    results = tmp_path / "results"
    manager = load(context, results, HOOK)
    context.poweron()
    context.console_log.write_bytes(b"booted\n")
    context.trigger("sample_exited")
    context.console_log.write_bytes(b"booted\nlater\n")
    context.poweroff()
    context.console_log.write_bytes(b"written after the end\n")
    manager.cleanup()
    assert (results / "console.log").read_bytes() == b"booted\nlater\n"
    assert [(e.payload["name"], e.payload["at"]) for e in context.artefacts] == [
        ("console.log", "post_poweroff")
    ]


def test_copied_at_each_configured_event_then_at_the_end(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    results = tmp_path / "results"
    manager = load(context, results, HOOK, events=["sample_exited"])
    context.poweron()
    context.console_log.write_bytes(b"panic: the sample did something\n")
    context.trigger("sample_exited")
    assert (results / "console.log").read_bytes() == b"panic: the sample did something\n"
    context.console_log.write_bytes(b"panic: the sample did something\nand then more\n")
    context.poweroff()
    manager.cleanup()
    assert (results / "console.log").read_bytes().endswith(b"and then more\n")
    assert [e.payload["at"] for e in context.artefacts] == ["sample_exited", "post_poweroff"]


def test_a_run_that_never_powered_off_still_keeps_its_console(tmp_path: Path) -> None:
    context = FakeQemuContext(tmp_path / "run")
    results = tmp_path / "results"
    manager = load(context, results, HOOK, events=["sample_exited"], console_limit=5)
    context.poweron()
    context.console_log.write_bytes(b"0123456789")
    manager.cleanup()
    assert (results / "console.log").read_bytes() == b"01234"
    assert [(e.payload["at"], e.payload["truncated"]) for e in context.artefacts] == [
        ("cleanup", True)
    ]


def test_bad_events(tmp_path: Path) -> None:
    with pytest.raises(HookLoadError, match="must be a list"):
        load(FakeQemuContext(tmp_path / "run"), tmp_path / "results", HOOK, events="x")
