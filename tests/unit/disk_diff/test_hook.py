"""DiskDiffHook: loaded like any hook, runs once the VM is gone, never costs the analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aasee.core import ContextBase, Event, HookLoadError, HookManager, HooksConfig

from .diskimages import make_base, make_overlay, run

HOOK = "aasee.hooks.disk_diff.DiskDiffHook"


class DiskContext(ContextBase):
    """A context whose VM is only pretend, around a real overlay."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"disk_overlay"})

    def __init__(self, overlay: Path) -> None:
        super().__init__("test-run")
        self.overlay = overlay
        self.artefacts: list[Event] = []
        self.subscribe("artifact", self.artefacts.append)

    def _poweron(self) -> None: ...

    def _pause(self) -> None: ...

    def _resume(self) -> None: ...

    def _poweroff(self) -> None: ...

    def _shutdown(self, timeout: float | None) -> None: ...


class NoDiskContext(DiskContext):
    capabilities: ClassVar[frozenset[str]] = frozenset({"qmp"})


def _load(context: DiskContext, results: Path, **configuration: Any) -> HookManager:
    config = HooksConfig(
        configuration={"results_dir": str(results)},
        hooks=[{"name": HOOK, "configuration": configuration}],  # type: ignore[list-item]
    )
    manager = HookManager("test-run", config, context)
    manager.load()
    return manager


@pytest.mark.e2fsprogs
@pytest.mark.root
def test_diff_written_after_power_off(tmp_path: Path, tools: None, root: None) -> None:
    base = make_base(tmp_path, {"tmp/": "", "etc/hosts": "127.0.0.1 localhost\n"})
    sample = tmp_path / "sample"
    sample.write_bytes(b"#!/bin/sh\necho hi\n")
    overlay = make_overlay(base, [f"write {sample} /tmp/sample", "rm /etc/hosts"])
    context = DiskContext(overlay)
    results = tmp_path / "results"
    manager = _load(context, results, disk_diff_time_limit=30)
    context.poweron()
    context.trigger("sample_started", guest_path="/tmp/sample", pid=1)
    context.poweroff()
    context.trigger("post_shutdown")  # a second end of the VM does not diff again
    manager.cleanup()
    document = json.loads((results / "disk_diff.json").read_text())
    paths = {e["path"]: e for e in document["entries"]}
    assert paths["/tmp/sample"]["sample"] is True
    assert paths["/etc/hosts"]["change"] == "deleted"
    assert document["sample_path"] == "/tmp/sample"
    assert [e.payload["name"] for e in context.artefacts] == ["disk_diff.json"]
    assert (results / "disk_diff" / paths["/tmp/sample"]["sha256"]).is_file()


def test_nothing_before_power_on(tmp_path: Path) -> None:
    context = DiskContext(tmp_path / "overlay.qcow2")
    manager = _load(context, tmp_path / "results")
    context.trigger("post_poweroff")  # the event without a power-on before it
    manager.cleanup()
    assert not (tmp_path / "results" / "disk_diff.json").exists()


def test_broken_overlay_is_recorded_not_raised(tmp_path: Path, tools: None) -> None:
    overlay = tmp_path / "overlay.qcow2"
    overlay.write_bytes(b"not a disk")
    context = DiskContext(overlay)
    results = tmp_path / "results"
    manager = _load(context, results, disk_diff_method="copy")
    context.poweron()
    context.poweroff()
    manager.cleanup()
    document = json.loads((results / "disk_diff.json").read_text())
    assert document["entries"] == []
    assert document["errors"][0].startswith("disk diff failed")


def test_context_without_the_overlay_refuses_the_hook(tmp_path: Path) -> None:
    with pytest.raises(HookLoadError, match="disk_overlay"):
        _load(NoDiskContext(tmp_path / "x"), tmp_path)


@pytest.mark.parametrize(
    "configuration",
    [{"disk_diff_method": "mount"}, {"disk_diff_time_limit": 0}, {"disk_diff_max_entries": "x"}],
)
def test_bad_configuration_fails_at_load(tmp_path: Path, configuration: dict[str, Any]) -> None:
    with pytest.raises(HookLoadError):
        _load(DiskContext(tmp_path / "x"), tmp_path, **configuration)


@pytest.mark.e2fsprogs
@pytest.mark.root
def test_backing_chain_rewritten_during_the_run_is_refused(
    tmp_path: Path, tools: None, root: None
) -> None:
    base = make_base(tmp_path, {"tmp/": ""})
    overlay = make_overlay(base, [])
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"host secret" * 10_000)
    context = DiskContext(overlay)
    results = tmp_path / "results"
    manager = _load(context, results)
    context.poweron()
    # What a compromised QEMU, owning the overlay, could do: point it at a host file.
    run("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", secret, "-F", "raw", overlay)
    context.poweroff()
    manager.cleanup()
    document = json.loads((results / "disk_diff.json").read_text())
    assert document["entries"] == []
    assert "backing chain changed" in document["errors"][0]
    assert not (results / "disk_diff").exists()
