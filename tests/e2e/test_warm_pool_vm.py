"""The warm pool on real VMs: a warm VM serves one sample and is gone, a warm VM whose snapshot
was replaced is discarded, and a worker killed while it holds a warm VM leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aasee.contexts.network import list_sandbox_namespaces
from aasee.contexts.qemu_process import list_qemu_sandboxes
from aasee.contexts.snapshots import Snapshot
from aasee.contexts.warm_pool import WarmPool, WarmTarget, runs_of, set_active_pool
from aasee.images.store import GuestImage, aasee_home
from aasee.service.analysis import AnalysisOptions, run_analysis, warm_target, warm_up_guest

from .conftest import leftovers

pytestmark = pytest.mark.vm
DEMO = Path(__file__).resolve().parents[2] / "src/aasee/demo/dropper.sh"


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds:g} s")


@pytest.fixture
def pool() -> Iterator[WarmPool]:
    warm = WarmPool(warm_up=warm_up_guest)
    set_active_pool(warm)
    try:
        yield warm
    finally:
        set_active_pool(None)
        warm.close()


def _target(image: GuestImage) -> WarmTarget:
    target = warm_target(image.name, AnalysisOptions(image=image.name))
    assert target is not None, "the default guest has a ready snapshot: something to keep warm"
    return target


def test_a_warm_vm_serves_one_sample_and_is_replaced(
    guest_image: GuestImage,
    ready_snapshot: Snapshot,
    no_leftovers: None,
    pool: WarmPool,
    tmp_path: Path,
) -> None:
    pool.keep_warm(_target(guest_image))
    _wait(lambda: pool.warm_count() == 1, 60, "a VM was not kept warm")
    first = runs_of(pool)[0]
    options = AnalysisOptions(timeout=10, image=guest_image.name)
    run_analysis(DEMO, tmp_path / "one", options, postprocess=False)
    run = json.loads((tmp_path / "one" / "run.json").read_text())
    assert run["boot"].startswith("warm VM"), run["boot"]
    assert run["timings"]["call_to_sample"] > 0
    # The sample ran traced: the dropper's file is in the trace.
    assert b"/tmp/.cache" in (tmp_path / "one" / "trace.log").read_bytes()
    assert not first.exists(), "the warm VM was used once and removed with its run"
    # The pool refills with a new VM; the next sample gets that one, never the first again.
    _wait(lambda: pool.warm_count() == 1, 60, "the pool did not refill")
    second = runs_of(pool)[0]
    assert second.name != first.name
    run_analysis(DEMO, tmp_path / "two", options, postprocess=False)
    run2 = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run2["boot"].startswith("warm VM")
    assert not second.exists()
    assert pool.taken == 2


def test_a_warm_vm_older_than_its_snapshot_is_discarded(
    guest_image: GuestImage,
    ready_snapshot: Snapshot,
    no_leftovers: None,
    pool: WarmPool,
    request: pytest.FixtureRequest,
) -> None:
    target = _target(guest_image)
    # A snapshot of our own to replace: the shared one stays as it is. QEMU runs as its own
    # user, so the copy must be readable by it (pytest's folders are not).
    folder = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="aasee-warm-test-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    folder.chmod(0o755)
    state = folder / target.snapshot.state.name
    shutil.copyfile(target.snapshot.state, state)
    state.chmod(0o644)
    snapshot = replace(target.snapshot, directory=folder, state=state)
    pool.keep_warm(WarmTarget(target.config, snapshot))
    _wait(lambda: pool.warm_count() == 1, 60, "a VM was not kept warm")
    # A new snapshot in the same place (a rebuild): a new file, not the one restored.
    fresh = folder / "state.new"
    shutil.copyfile(target.snapshot.state, fresh)
    fresh.chmod(0o644)
    os.replace(fresh, state)
    assert pool.take(target.config, snapshot) is None
    assert pool.discarded >= 1
    # Before the snapshot copy goes: the pool may be restoring from it again.
    pool.close()


def _config(tmp_path: Path) -> Path:
    service = tmp_path / "service"
    config = tmp_path / "aasee.toml"
    config.write_text(
        f'home = "{aasee_home()}"\n'
        f'database_url = "sqlite:///{service}/aasee.db"\n'
        f'queue_url = "sqlite:///{service}/queue.db"\n'
        f'storage_url = "file://{service}/storage"\n'
        f'scratch_dir = "{service}/scratch"\n'
    )
    return config


def _warm_owner(before: set[str]) -> int | None:
    """The pid of the process holding a warm VM started after ``before`` was taken."""
    runs = aasee_home() / "runs"
    for run in runs.iterdir() if runs.is_dir() else []:
        if run.name in before or not (run / "agent.sock").exists():
            continue
        try:
            return int(json.loads((run / "owner.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def test_a_killed_worker_with_a_warm_vm_leaves_nothing(
    guest_image: GuestImage, ready_snapshot: Snapshot, tmp_path: Path
) -> None:
    before = leftovers()
    before_netns = set(list_sandbox_namespaces())
    worker = subprocess.Popen(
        [sys.executable, "-m", "aasee.cli.main", "worker", "--config", str(_config(tmp_path))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    try:
        owner: list[int] = []

        def warm() -> bool:
            pid = _warm_owner(set(before[1]))
            if pid is not None:
                owner.append(pid)
            return pid is not None and bool(set(list_qemu_sandboxes()) - set(before[0]))

        _wait(warm, 120, "the worker kept no VM warm")
        assert owner[-1] != worker.pid, "the pool lives in the worker child, not the supervisor"
        os.kill(owner[-1], signal.SIGKILL)
        # Its QEMU dies with it (PR_SET_PDEATHSIG); the supervisor starts a new child, whose
        # first warm VM sweeps the dead one's run directory and namespace.
        _wait(
            lambda: (
                not any(
                    (aasee_home() / "runs" / name).exists()
                    for name in set(leftovers()[1]) - set(before[1])
                    if _owner_dead(name)
                )
            ),
            120,
            "the killed worker's run directory was not swept",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(120)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(30)
    _wait(
        lambda: not set(list_qemu_sandboxes()) - set(before[0]), 30, "a warm VM outlived its worker"
    )
    assert not set(leftovers()[1]) - set(before[1]), "run directories left"
    assert not set(list_sandbox_namespaces()) - before_netns, "network namespaces left"


def _owner_dead(run_name: str) -> bool:
    try:
        pid = int(json.loads((aasee_home() / "runs" / run_name / "owner.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
