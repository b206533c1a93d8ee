"""Fixtures for tests that boot real guests: the image, compiled test programs, leak checks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aasee.arch import DEFAULT_ARCH, get_profile
from aasee.contexts.accel import choose_accel
from aasee.contexts.libvirt_qemu import list_sandbox_domains
from aasee.contexts.lxc import list_sandbox_containers
from aasee.contexts.qemu_process import list_qemu_sandboxes
from aasee.contexts.snapshots import Snapshot, find_snapshot
from aasee.images.builder import ImageBuilder, recipe_for
from aasee.images.store import GuestImage, aasee_home, cache_dir, snapshot_root
from aasee.service.analysis import AnalysisOptions, make_snapshot, qemu_config

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The default guest, built (or taken from the cache) once per session."""
    return ImageBuilder(recipe_for(get_profile(DEFAULT_ARCH))).build()


@pytest.fixture(scope="session")
def ready_snapshot(guest_image: GuestImage) -> Snapshot:
    """The default ready snapshot of the guest, made if it does not exist yet."""
    options = AnalysisOptions(image=guest_image.name)
    accel = choose_accel(guest_image.profile(), guest_image.kernel, options.accel, cache_dir())
    found, _ = find_snapshot(
        snapshot_root(),
        guest_image.name,
        guest_image.inputs_key,
        qemu_config(guest_image, options, accel),
    )
    return found or make_snapshot(options)


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Test programs compiled statically on the host, so they run on any guest."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the test programs: run `make install`")
    out = tmp_path_factory.mktemp("programs")
    built: dict[str, Path] = {}
    for source in PROGRAMS.glob("*.c"):
        binary = out / source.stem
        subprocess.run([gcc, "-static", "-O1", "-o", str(binary), str(source)], check=True)
        built[source.stem] = binary
    return built


def leftovers() -> tuple[list[str], list[str]]:
    runs = aasee_home() / "runs"
    run_dirs = sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []
    return list_sandbox_domains() + list_qemu_sandboxes() + list_sandbox_containers(), run_dirs


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Asserts that the test left no VM (libvirt domain or QEMU process) and no run directory."""
    before = leftovers()
    yield
    after = leftovers()
    assert set(after[0]) <= set(before[0]), f"VMs left: {sorted(set(after[0]) - set(before[0]))}"
    new_runs = sorted(set(after[1]) - set(before[1]))
    assert not new_runs, f"run directories left: {new_runs}"
