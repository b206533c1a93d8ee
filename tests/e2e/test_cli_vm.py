"""The `aasee` command as a user runs it: exit codes, messages, nothing left behind.

All of them are ``vm`` tests: the quick ones check for leftover VMs through libvirt (which
starts libvirtd), the others build the image, make a ready snapshot or boot the guest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aasee.images.store import GuestImage

AASEE = [sys.executable, "-m", "aasee.cli.main"]
DEMO = Path(__file__).resolve().parents[2] / "src/aasee/demo/dropper.sh"
pytestmark = pytest.mark.vm


def aasee(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AASEE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    ("make_sample", "message"),
    [
        (lambda d: d / "missing.bin", "does not exist"),
        (lambda d: (d / "empty.bin").touch() or d / "empty.bin", "is empty"),
        (lambda d: d, "not a regular file"),
        (lambda d: Path("/etc/passwd/not-a-dir"), "does not exist"),
    ],
    ids=["missing", "empty", "directory", "unreachable-path"],
)
def test_bad_sample_is_a_clear_error(
    tmp_path: Path, make_sample, message: str, no_leftovers: None
) -> None:
    sample = make_sample(tmp_path)
    result = aasee("analyze", str(sample), "--timeout", "5", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_missing_image_is_a_clear_error(tmp_path: Path, no_leftovers: None) -> None:
    result = aasee("analyze", str(DEMO), "--image", "no-such-guest", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "guest image 'no-such-guest' is not available" in result.stderr
    assert "aasee image build" in result.stderr


def test_hook_that_fails_to_load_is_reported_and_cleaned_up(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    config = tmp_path / "hooks.json"
    config.write_text(json.dumps({"hooks": [{"name": "aasee.hooks.nonexistent.GhostHook"}]}))
    result = aasee("analyze", str(DEMO), "--hooks", str(config), "--out", str(tmp_path / "o"))
    assert result.returncode == 3, result.stderr
    assert "aasee.hooks.nonexistent.GhostHook" in result.stderr


def test_demo_sample_end_to_end(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    out = tmp_path / "demo"
    result = aasee("analyze", str(DEMO), "--timeout", "10", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Processes" in result.stdout and "/etc/cron.d/cache-update" in result.stdout
    report = json.loads((out / "report.json").read_text())
    written = {w["path"] for w in report["files"]["written"]}
    assert "/etc/cron.d/cache-update" in written
    deleted = {d["path"] for d in report["files"]["deleted"]}
    assert "/tmp/dropper.sh" in deleted
    assert any(
        c["dst_ip"] == "203.0.113.50" and c["dst_port"] == 4444
        for c in report["network"]["connections"]
    )


def test_image_list_shows_the_image_and_its_snapshot(
    guest_image: GuestImage, ready_snapshot: object
) -> None:
    result = subprocess.run(
        [*AASEE, "image", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert result.returncode == 0, result.stderr
    assert guest_image.name in result.stdout
    assert "MiB/1 vCPU" in result.stdout
