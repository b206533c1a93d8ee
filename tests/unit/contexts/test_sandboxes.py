"""Sandbox kinds are found by name and turn a request into boot plans, best first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.contexts.accel import AccelChoice
from aasee.contexts.qemu_config import ContextError, GuestSpec, QemuConfig
from aasee.contexts.sandboxes import SandboxRequest, get_sandbox, sandbox_names, usable_sandboxes
from aasee.contexts.snapshots import snapshot_dir, snapshot_key


def _config(network: str = "fake") -> QemuConfig:
    guest = GuestSpec("g", Path("/d"), Path("/k"), Path("/i"), "c", get_profile("x86_64"))
    return QemuConfig(guest, AccelChoice("tcg", "test"), Path("/runs"), network=network)


def _fake_snapshot(root: Path, config: QemuConfig, image_key: str) -> None:
    key = snapshot_key(image_key, config)
    directory = snapshot_dir(root, "g", key)
    directory.mkdir(parents=True)
    (directory / "state.bin").write_bytes(b"x" * 10)
    (directory / "disk.qcow2").write_bytes(b"")
    meta = {
        "key": key,
        "image_key": image_key,
        "state_bytes": 10,
        "save_seconds": 0.1,
        "created": "now",
    }
    (directory / "meta.json").write_text(json.dumps(meta))


def test_qemu_is_registered_and_unknown_names_are_refused() -> None:
    assert "qemu" in sandbox_names()
    with pytest.raises(ContextError, match="unknown sandbox 'nope'"):
        get_sandbox("nope")


def test_restore_first_then_cold_boot(tmp_path: Path) -> None:
    config = _config()
    _fake_snapshot(tmp_path, config, "k1")
    plans = get_sandbox("qemu").plan(SandboxRequest(config, "k1", "auto", tmp_path))
    assert [p.restoring for p in plans] == [True, False]
    assert plans[0].description == "snapshot restore"
    assert plans[1].description == "cold boot (snapshot restore failed)"


def test_no_snapshot_means_cold_boot_with_the_reason(tmp_path: Path) -> None:
    plans = get_sandbox("qemu").plan(SandboxRequest(_config(), "k1", "auto", tmp_path))
    assert len(plans) == 1 and not plans[0].restoring
    assert "no snapshot yet" in plans[0].description


def test_revert_modes(tmp_path: Path) -> None:
    config = _config()
    _fake_snapshot(tmp_path, config, "k1")
    cold = get_sandbox("qemu").plan(SandboxRequest(config, "k1", "cold", tmp_path))
    assert [p.description for p in cold] == ["cold boot (requested)"]
    with pytest.raises(ContextError, match="no usable snapshot"):
        get_sandbox("qemu").plan(SandboxRequest(config, "other-build", "snapshot", tmp_path))


def test_snapshot_shape_depends_on_architecture() -> None:
    arm = GuestSpec("g", Path("/d"), Path("/k"), Path("/i"), "c", get_profile("aarch64"))
    x86 = _config()
    other = QemuConfig(arm, x86.accel, x86.runs_dir, network="fake")
    assert snapshot_key("k", x86) != snapshot_key("k", other)


def test_each_kind_says_whether_this_host_can_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from aasee.contexts import lxc_sandbox
    from aasee.contexts.host_tracer import HostTracer

    usable = usable_sandboxes()
    assert set(usable) == set(sandbox_names())
    assert usable["qemu"] is None  # QEMU needs nothing a worker could do without
    lxc = get_sandbox("lxc")
    # No LXC driver: said first, whatever the tracer.
    monkeypatch.setattr(lxc_sandbox, "LXC_HELPERS", (Path("/nonexistent/libvirt_lxc"),))
    assert "libvirt-daemon-driver-lxc" in (lxc.unavailable() or "")
    monkeypatch.setattr(lxc_sandbox, "LXC_HELPERS", (Path("/"),))
    monkeypatch.setattr(HostTracer, "unavailable_reason", staticmethod(lambda: "no bpftrace"))
    assert lxc.unavailable() == "the host-side eBPF tracer cannot run: no bpftrace"
    monkeypatch.setattr(HostTracer, "unavailable_reason", staticmethod(lambda: None))
    assert lxc.unavailable() is None
    monkeypatch.setattr("shutil.which", lambda _name: None)
    assert "VBoxManage" in (get_sandbox("virtualbox").unavailable() or "")
