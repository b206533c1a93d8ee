"""The builder's pure parts: the image cache key, the cached path, names in metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.images import builder as builder_module
from aasee.images.builder import ImageBuilder, _code_digest, _Plan, _upstream, recipe_for
from aasee.images.store import GuestImage


def test_plan_key_depends_on_every_input_and_not_on_order() -> None:
    one = _Plan({"kernel": "linux-image-6.1.0-57-arm64=6.1.192-3", "agent": "arm64 abc"})
    two = _Plan({"agent": "arm64 abc", "kernel": "linux-image-6.1.0-57-arm64=6.1.192-3"})
    assert one.key() == two.key()
    assert (
        _Plan({**one.inputs, "kernel": "linux-image-6.1.0-58-arm64=6.1.193-1"}).key() != one.key()
    )
    assert _Plan({**one.inputs, "libc:armel:libc6": "2.36-9"}).key() != one.key()


def test_code_digest_is_stable() -> None:
    assert _code_digest() == _code_digest()


def test_upstream_version() -> None:
    assert _upstream("busybox-static 1:1.35.0-4+deb12u1+b1") == "1.35.0"
    assert _upstream("busybox source 1:1.35.0-4+deb12u1 (mips-linux-gnu-gcc 12.2.0)") == "1.35.0"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AASEE_HOME", str(tmp_path))
    return tmp_path


def _existing(home: Path, name: str, key: str) -> GuestImage:
    images = home / "images"
    images.mkdir(parents=True, exist_ok=True)
    files = {}
    for suffix in ("qcow2", "vmlinuz", "initrd"):
        files[suffix] = images / f"{name}.{suffix}"
        files[suffix].write_bytes(b"x")
    image = GuestImage(
        name=name,
        arch="aarch64",
        os="busybox-1.35.0",
        kernel_release="6.1.0-57-arm64",
        cmdline="console=ttyAMA0 panic=-1 quiet root=/dev/vda",
        disk=files["qcow2"],
        kernel=files["vmlinuz"],
        initrd=files["initrd"],
        agent_version="0.3.0",
        inputs_key=key,
        built_at="2026-01-01T00:00:00+00:00",
        inputs={"kernel": "k"},
    )
    (images / f"{name}.json").write_text(image.model_dump_json())
    return image


def test_a_current_image_is_returned_without_building(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = ImageBuilder(recipe_for(get_profile("aarch64")))
    plan = _Plan({"kernel": "k", "busybox": "b"})
    monkeypatch.setattr(builder, "_plan", lambda: plan)
    built: list[str] = []
    monkeypatch.setattr(builder, "_build", lambda p, key: built.append(key))
    existing = _existing(home, "iot-aarch64", plan.key())
    assert builder.build() == existing
    assert built == []
    # Another input (a new kernel upload, an agent change...) rebuilds; so does --force.
    monkeypatch.setattr(builder, "_plan", lambda: _Plan({"kernel": "k2", "busybox": "b"}))
    builder.build()
    monkeypatch.setattr(builder, "_plan", lambda: plan)
    builder.build(force=True)
    assert len(built) == 2


def test_an_incomplete_image_is_rebuilt(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builder = ImageBuilder(recipe_for(get_profile("aarch64")))
    plan = _Plan({"kernel": "k"})
    monkeypatch.setattr(builder, "_plan", lambda: plan)
    built: list[str] = []
    monkeypatch.setattr(builder, "_build", lambda p, key: built.append(key))
    existing = _existing(home, "iot-aarch64", plan.key())
    existing.initrd.unlink()
    builder.build()
    assert built == [plan.key()]


def test_old_metadata_without_inputs_still_loads(tmp_path: Path) -> None:
    legacy = (
        '{"name": "debian-bookworm-amd64", "arch": "amd64", "os": "debian-bookworm", '
        '"kernel_release": "6.1.0-57-cloud-amd64", "cmdline": "console=ttyS0", '
        '"disk": "/x.qcow2", "kernel": "/x.vmlinuz", "initrd": "/x.initrd", '
        '"agent_version": "0.2", "inputs_key": "k", "built_at": "t", "size_bytes": 1}'
    )
    image = GuestImage.model_validate_json(legacy)
    assert image.inputs == {}
    assert image.profile().name == "x86_64"


def test_the_build_modules_exist() -> None:
    package = Path(builder_module.__file__).parent
    for name in builder_module.BUILD_MODULES:
        assert (package / name).is_file(), name
    for name in builder_module.ASSETS:
        assert (package / "assets" / name).is_file(), name
