"""A libvirt VM start that would re-probe a broken /dev/kvm (a libvirtd AASEE did not start)
is never taken: the cold boot runs as a QEMU process of our own instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.contexts import libvirt_connection
from aasee.contexts.libvirt_connection import libvirt_reprobes_kvm


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    state: dict[str, object] = {"pids": [], "kvm": True}
    ours = tmp_path / "aasee-libvirtd.pid"
    monkeypatch.setattr(libvirt_connection, "OURS", str(ours))
    monkeypatch.setattr(libvirt_connection, "_libvirtd_pids", lambda: list(state["pids"]))  # type: ignore[call-overload]
    real_exists = libvirt_connection.os.path.exists
    monkeypatch.setattr(
        libvirt_connection.os.path,
        "exists",
        lambda path: bool(state["kvm"]) if path == "/dev/kvm" else real_exists(path),
    )
    state["ours"] = ours
    return state


def test_working_kvm_or_no_kvm_never_reprobes(host: dict[str, object]) -> None:
    host["pids"] = [4242]
    assert not libvirt_reprobes_kvm(kvm_broken=False)
    host["kvm"] = False
    assert not libvirt_reprobes_kvm(kvm_broken=True)


def test_a_foreign_libvirtd_reprobes_a_broken_kvm(host: dict[str, object]) -> None:
    host["pids"] = [4242]
    assert libvirt_reprobes_kvm(kvm_broken=True), "no record of ours: someone else's daemon"
    Path(str(host["ours"])).write_text("1111")
    assert libvirt_reprobes_kvm(kvm_broken=True), "ours is gone, another one runs"


def test_ours_or_none_running_is_fine(host: dict[str, object]) -> None:
    assert not libvirt_reprobes_kvm(kvm_broken=True), "none running: AASEE starts its own"
    host["pids"] = [4242]
    Path(str(host["ours"])).write_text("4242\n")
    assert not libvirt_reprobes_kvm(kvm_broken=True)
