"""The LXC sandbox's parts that need no container: domain XML, refusals, capabilities."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.contexts.accel import AccelChoice
from aasee.contexts.lxc import CHANNEL_DIR, KEPT_CAPABILITIES, LxcContext, container_xml
from aasee.contexts.qemu_config import ContextError, GuestSpec, QemuConfig
from aasee.contexts.sandboxes import SandboxRequest, get_sandbox, sandbox_names
from aasee.hooks.disk_diff import DiskDiffHook
from aasee.hooks.pcap import PcapHook
from aasee.hooks.tracer import TracerHook


def _config(tmp_path: Path, arch: str = "x86_64", network: str = "fake") -> QemuConfig:
    guest = GuestSpec(
        "g", tmp_path / "g.qcow2", tmp_path / "k", tmp_path / "i", "", get_profile(arch)
    )
    accel = AccelChoice("tcg", "test", kvm_broken=True)
    return QemuConfig(guest=guest, accel=accel, runs_dir=tmp_path / "runs", network=network)


def test_the_domain_is_valid_libvirt_lxc_xml(tmp_path: Path) -> None:
    xml = container_xml("aasee-t1", tmp_path / "root", tmp_path / "channel", 512, 1)
    validator = shutil.which("virt-xml-validate")
    assert validator, "virt-xml-validate is missing: run `make install` (libvirt-clients)"
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    result = subprocess.run([validator, str(path), "domain"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    domain = ET.fromstring(xml)
    assert domain.get("type") == "lxc"
    assert domain.find("features/privnet") is not None  # a network namespace of its own
    caps = domain.find("features/capabilities")
    assert caps is not None and caps.get("policy") == "deny"
    kept = {c.tag for c in caps}
    assert kept == set(KEPT_CAPABILITIES)
    # What would reach the host's kernel or clock is never kept.
    for dangerous in ("sys_admin", "sys_module", "sys_rawio", "sys_time", "sys_boot", "mknod"):
        assert dangerous not in kept
    targets = {
        f.find("target").get("dir"): f.find("source").get("dir") for f in domain.iter("filesystem")
    }  # type: ignore[union-attr]
    assert targets == {"/": str(tmp_path / "root"), CHANNEL_DIR: str(tmp_path / "channel")}
    assert [a.text for a in domain.iter("initarg")] == ["--socket", f"{CHANNEL_DIR}/initctl"]


def test_names_are_escaped(tmp_path: Path) -> None:
    xml = container_xml("aasee-<x>", tmp_path / "a'b\"c", tmp_path / "ch", 256, 1)
    domain = ET.fromstring(xml)
    assert domain.findtext("name") == "aasee-<x>"
    assert domain.find("devices/filesystem/source").get("dir") == str(tmp_path / "a'b\"c")  # type: ignore[union-attr]


def test_the_lxc_kind_is_registered_and_says_it_is_weaker() -> None:
    assert "lxc" in sandbox_names()
    lxc = get_sandbox("lxc")
    assert lxc.hypervisor == "lxc"
    assert "weaker" in lxc.isolation and "host's own kernel" in lxc.isolation


@pytest.mark.parametrize(
    ("arch", "network", "revert", "said"),
    [
        ("x86_64", "fake", "snapshot", "starts containers fresh"),
        ("x86_64", "isolated", "auto", "networks fake and none"),
        ("x86_64", "internet", "auto", "networks fake and none"),
        ("aarch64", "fake", "auto", "cannot run aarch64 programs"),
    ],
)
def test_what_a_container_cannot_do_is_refused_before_anything_starts(
    tmp_path: Path, arch: str, network: str, revert: str, said: str
) -> None:
    request = SandboxRequest(_config(tmp_path, arch, network), "key", revert)
    with pytest.raises(ContextError, match=said):
        get_sandbox("lxc").plan(request)
    assert not (tmp_path / "runs").exists()


def test_one_fresh_start_is_planned(tmp_path: Path) -> None:
    plans = get_sandbox("lxc").plan(SandboxRequest(_config(tmp_path), "key", "auto"))
    assert [p.description for p in plans] == ["container start (LXC)"]
    assert not plans[0].restoring


def test_the_hooks_a_container_serves() -> None:
    caps = LxcContext.capabilities
    assert TracerHook.requires <= caps and PcapHook.requires <= caps
    # No disk image: the disk diff is an optional hook this context skips.
    assert not DiskDiffHook.requires <= caps
    assert {"host_tracer", "shared_clock", "packet_capture"} <= caps
