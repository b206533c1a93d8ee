"""Backdating a freshly built root file system, so that it looks installed months ago.

Everything the image builder writes (configurations, home directories, keys, the package
database, directories dpkg created) carries the build day as its date, and a sample that
lists ``/etc`` or ``/home`` by date sees a machine born minutes before it ran. Files whose
date is recent get one from a plausible life instead: an installation day some months back,
then changes spread over the time since. Files that kept their package's own date (dpkg
extracts them with it) are left alone. Dates are drawn from the build's inputs, so a build
is reproducible.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path

__all__ = ["age_tree"]

DAY = 86400.0
RECENT = 3 * DAY
"""Files dated within this of the build are the build's own."""


def age_tree(root: Path, now: float, seed: str, recent: float = RECENT) -> int:
    """Give every path under ``root`` dated after ``now - recent`` an older date; returns
    how many were changed. Symbolic links are dated themselves, never followed."""
    life = random.Random(f"{seed}:install")
    installed = now - life.uniform(180, 420) * DAY
    changed = 0
    for directory, dirnames, filenames in os.walk(root, topdown=False):
        for name in (*filenames, *dirnames, None):
            path = os.path.join(directory, name) if name is not None else directory
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if info.st_mtime < now - recent:
                continue
            when = _date(path, root, seed, installed, now, info.st_mode)
            os.utime(path, (when, when), follow_symlinks=False)
            changed += 1
    return changed


def _date(path: str, root: Path, seed: str, installed: float, now: float, mode: int) -> float:
    relative = os.path.relpath(path, root)
    digest = hashlib.sha256(f"{seed}:{relative}".encode()).digest()
    draw = random.Random(digest)
    # Most files date from the installation day; configuration, logs and home directories
    # were changed now and then since, some of them lately.
    changing = relative.startswith(("etc/", "home/", "root/", "var/log/", "var/spool/"))
    if stat.S_ISDIR(mode) or not changing or draw.random() < 0.4:
        return installed + draw.uniform(0, 3600 * 6)
    return installed + (now - installed) * draw.betavariate(2.0, 1.2) - draw.uniform(0, DAY)
