"""Backdating what the image build wrote: months-old, reproducible, symlinks not followed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aasee.images.ageing import DAY, age_tree


def _tree(root: Path, now: float) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("srv-web01\n")
    (root / "home/admin").mkdir(parents=True)
    (root / "home/admin/.bash_history").write_text("ls\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("x")
    packaged = now - 700 * DAY  # a file dpkg extracted with its package's date
    os.utime(root / "usr/bin/tool", (packaged, packaged))
    (root / "etc/link").symlink_to("/nonexistent")


def test_recent_files_get_a_plausible_past_and_package_dates_stay(tmp_path: Path) -> None:
    now = time.time()
    _tree(tmp_path, now)
    changed = age_tree(tmp_path, now, "key-1")
    assert changed >= 6
    for path in ("etc/hostname", "home/admin/.bash_history", "etc", "home", "home/admin"):
        mtime = os.lstat(tmp_path / path).st_mtime
        assert now - 425 * DAY < mtime < now - 0.5 * DAY, (path, (now - mtime) / DAY)
    assert abs(os.lstat(tmp_path / "usr/bin/tool").st_mtime - (now - 700 * DAY)) < 1
    assert os.lstat(tmp_path / "etc/link").st_mtime < now - 0.5 * DAY  # the link itself


def test_the_same_inputs_give_the_same_dates(tmp_path: Path) -> None:
    now = time.time()
    dates = []
    for name in ("a", "b"):
        _tree(tmp_path / name, now)
        age_tree(tmp_path / name, now, "key-1")
        dates.append(os.lstat(tmp_path / name / "etc/hostname").st_mtime)
    assert dates[0] == dates[1]
    _tree(tmp_path / "c", now)
    age_tree(tmp_path / "c", now, "key-2")
    assert os.lstat(tmp_path / "c" / "etc/hostname").st_mtime != dates[0]
