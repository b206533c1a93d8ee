"""Ready snapshots: isolation between restores, an untouched base, and safe fallback."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import aasee.service.analysis as analysis
from aasee.contexts.snapshots import Snapshot
from aasee.images.store import GuestImage
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def snapshot(ready_snapshot: Snapshot) -> Snapshot:
    return ready_snapshot


def test_restores_do_not_see_each_other_and_base_is_untouched(
    guest_image: GuestImage, snapshot: object, tmp_path: Path, no_leftovers: None
) -> None:
    base_before = _sha256(guest_image.disk)
    snap_disk = snapshot.disk  # type: ignore[attr-defined]
    snap_before = _sha256(snap_disk)
    sample = tmp_path / "marker.sh"
    sample.write_text(
        "#!/bin/sh\n"
        "if [ -e /root/previous-run.marker ]; then echo SEEN-PREVIOUS; else echo CLEAN; fi\n"
        "echo run > /root/previous-run.marker\n"
        "sync\n"
    )
    outputs = []
    for run in range(2):
        result = run_analysis(sample, tmp_path / f"run{run}", AnalysisOptions(timeout=5))
        assert result.report["analysis"]["boot"] == "snapshot restore"
        outputs.append(result.report["output"]["stdout"].strip())
    assert outputs == ["CLEAN", "CLEAN"]
    assert _sha256(guest_image.disk) == base_before
    assert _sha256(snap_disk) == snap_before


def _copy_snapshot(snapshot: object, root: Path) -> Path:
    source = snapshot.directory  # type: ignore[attr-defined]
    target = root / source.name
    shutil.copytree(source, target)
    return target


def test_mismatched_snapshot_falls_back_to_cold_boot(
    snapshot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    root = tmp_path / "snapshots"
    copy = _copy_snapshot(snapshot, root)
    meta = json.loads((copy / "meta.json").read_text())
    meta["image_key"] = "built-from-something-else"
    (copy / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setattr(analysis, "snapshot_root", lambda: root)
    sample = tmp_path / "hello.sh"
    sample.write_text("#!/bin/sh\necho hello\n")
    report = run_analysis(sample, tmp_path / "out", AnalysisOptions(timeout=4)).report
    assert report["analysis"]["boot"].startswith("cold boot (")
    assert "does not match" in report["analysis"]["boot"]
    assert "hello" in report["output"]["stdout"]


def test_corrupt_snapshot_is_detected_and_cold_boot_used(
    snapshot: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    root = tmp_path / "snapshots"
    copy = _copy_snapshot(snapshot, root)
    state = copy / "state.bin"
    state.chmod(0o644)
    size = state.stat().st_size
    with state.open("r+b") as handle:  # same size, garbage where the device state begins
        handle.seek(0)
        handle.write(b"\xde\xad\xbe\xef" * 4096)
    assert state.stat().st_size == size
    monkeypatch.setattr(analysis, "snapshot_root", lambda: root)
    sample = tmp_path / "hello.sh"
    sample.write_text("#!/bin/sh\necho hello\n")
    report = run_analysis(sample, tmp_path / "out", AnalysisOptions(timeout=4)).report
    assert report["analysis"]["boot"] == "cold boot (snapshot restore failed)"
    assert any("snapshot restore failed" in e for e in report["errors"])
    assert "hello" in report["output"]["stdout"]
