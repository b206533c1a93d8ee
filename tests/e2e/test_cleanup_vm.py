"""Every exit path cleans up: Ctrl-C, SIGTERM and even SIGKILL of the analysing process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aasee.contexts.libvirt_qemu import list_sandbox_domains
from aasee.contexts.network import list_sandbox_namespaces
from aasee.contexts.qemu_process import list_qemu_sandboxes
from aasee.images.store import GuestImage

from .conftest import leftovers

pytestmark = pytest.mark.vm
DEMO = Path(__file__).resolve().parents[2] / "src/aasee/demo/dropper.sh"


def _start(tmp_path: Path, revert: str = "auto") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aasee.cli.main",
            "analyze",
            str(DEMO),
            "--timeout",
            "120",
            "--out",
            str(tmp_path / "out"),
            "--revert",
            revert,
            # The run must still be going when the test interrupts it.
            "--full-timeout",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A test runner started in the background may ignore SIGINT, and Python keeps an
        # ignored SIGINT ignored: give the analysis the terminal's default, as a user has.
        preexec_fn=_default_sigint,  # noqa: PLW1509
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_sample(tmp_path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    log = tmp_path / "out" / "analysis.log"
    while time.monotonic() < deadline:
        if log.is_file() and "sample started" in log.read_text():
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    pytest.fail("the sample never started")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_cleans_up(
    guest_image: GuestImage, tmp_path: Path, sig: int, no_leftovers: None
) -> None:
    proc = _start(tmp_path)
    _wait_for_sample(tmp_path, proc)
    assert list_sandbox_domains() + list_qemu_sandboxes(), "the VM should be running"
    proc.send_signal(sig)
    assert proc.wait(60) == 130
    assert b"cleaned up" in (proc.stderr.read() if proc.stderr else b"")


@pytest.mark.parametrize("revert", ["snapshot", "cold"])
def test_sigkill_leaves_nothing_after_cleanup(
    guest_image: GuestImage, tmp_path: Path, revert: str
) -> None:
    before = leftovers()
    before_netns = set(list_sandbox_namespaces())
    proc = _start(tmp_path, revert)
    _wait_for_sample(tmp_path, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # libvirt destroys an AUTODESTROY domain as soon as its owner's connection drops, and a
    # direct QEMU gets SIGKILL from the kernel when its parent dies (PR_SET_PDEATHSIG).
    deadline = time.monotonic() + 30

    def vms() -> set[str]:
        return set(list_sandbox_domains() + list_qemu_sandboxes()) - set(before[0])

    while time.monotonic() < deadline and vms():
        time.sleep(0.2)
    assert not vms()
    # What the killed process could not remove: its run directory (and its namespace).
    left = sorted(set(leftovers()[1]) - set(before[1]))
    assert left, "the killed analysis left no run directory: nothing for cleanup to do"
    result = subprocess.run(
        [sys.executable, "-m", "aasee.cli.main", "cleanup"],
        capture_output=True,
        text=True,
        check=True,
    )
    removed = re.search(r"removed (\d+) stale run directories", result.stdout)
    assert removed, result.stdout
    assert int(removed.group(1)) >= len(left), result.stdout
    assert not set(leftovers()[1]) & set(left), "cleanup left the run directory"
    assert not set(list_sandbox_namespaces()) - before_netns, "network namespace left"
