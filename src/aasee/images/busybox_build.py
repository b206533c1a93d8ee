"""busybox compiled from Debian's source package, for architectures Debian has no port of.

The source comes from the archive (``apt-get source --download-only busybox``, unpacked with
``dpkg-source``, Debian's patches applied); it is configured with Debian's own
``busybox-static`` configuration (``debian/config/pkg/static``: static, the same applets as
the packaged ``busybox-static`` of every other architecture) and built with a Debian cross
compiler. The result is cached by source version, compiler and this recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from aasee.images.debian_packages import DebianArchive, publish_dir, run
from aasee.images.store import ImageError

__all__ = ["BUSYBOX_BUILD_VERSION", "busybox_from_source"]

BUSYBOX_BUILD_VERSION = "1"
DEBIAN_CONFIG = "debian/config/pkg/static"

Progress = Callable[[str], None]


def _make(source: Path, *args: str, cross_prefix: str, stdin: str | None = None) -> None:
    env = {**os.environ, "KCONFIG_NOTIMESTAMP": "1", "LC_ALL": "C"}
    argv = ["make", "-C", str(source), f"CROSS_COMPILE={cross_prefix}", *args]
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-2500:]
        raise ImageError(f"busybox build step `make {' '.join(args)}` failed:\n{tail}")


def busybox_from_source(
    sources: DebianArchive,
    cross_prefix: str,
    cache: Path,
    progress: Progress,
    jobs: int | None = None,
) -> tuple[Path, str]:
    """A static busybox for the cross compiler's target; returns it and what it came from."""
    gcc = shutil.which(f"{cross_prefix}gcc")
    if gcc is None:
        raise ImageError(f"building busybox needs {cross_prefix}gcc: run `make install`")
    gcc_version = run([gcc, "-dumpfullversion"]).stdout.strip()
    version, dsc = sources.download_source("busybox", cache / "src" / "busybox")
    blob = json.dumps([BUSYBOX_BUILD_VERSION, version, cross_prefix, gcc_version, DEBIAN_CONFIG])
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    done = cache / "busybox" / f"{cross_prefix.rstrip('-')}-{key}"
    origin = f"busybox source {version} ({cross_prefix}gcc {gcc_version})"
    if (done / ".complete").is_file():
        return done / "busybox", origin
    progress(f"building busybox {version} with {cross_prefix}gcc (about a minute)")
    done.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".busybox-", dir=done.parent) as tmp:
        source = Path(tmp) / "src"
        run(["dpkg-source", "--no-check", "-x", str(dsc), str(source)])
        config = source / DEBIAN_CONFIG
        if not config.is_file():
            raise ImageError(f"the busybox source {version} has no {DEBIAN_CONFIG}")
        shutil.copyfile(config, source / ".config")
        # Options newer than Debian's file take their defaults ("yes ''" answers).
        _make(source, "silentoldconfig", cross_prefix=cross_prefix, stdin="\n" * 2000)
        _make(source, f"-j{jobs or os.cpu_count() or 1}", "busybox", cross_prefix=cross_prefix)
        built = source / "busybox"
        if not built.is_file():
            raise ImageError("the busybox build produced no binary")
        partial = Path(tmp) / "out"
        partial.mkdir()
        shutil.copy2(built, partial / "busybox")
        shutil.copy2(source / ".config", partial / "config")
        (partial / ".complete").write_text(origin + "\n")
        publish_dir(partial, done)
    return done / "busybox", origin
