"""Real guest disks for the disk diff tests, changed the way a guest would, never mounted.

A base is an ext4 file system made by ``mke2fs -d`` from a directory (whole disk, 4 KiB
blocks), converted to qcow2. A run's overlay is made by converting the base chain to raw,
changing that copy with ``debugfs -w`` (and, for what debugfs cannot do, by patching bytes),
then turning the changed raw image into an overlay whose top layer holds only what differs:
an empty qcow2 over the changed raw image is rebased (safe mode) onto the base, which copies
into it exactly the clusters that differ from the base.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

TOOLS = ("mke2fs", "debugfs", "e2fsck", "qemu-img", "qemu-storage-daemon")
BLOCK = 4096


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise AssertionError(
            f"{', '.join(missing)} missing: `make install` installs e2fsprogs and QEMU"
        )


def require_root() -> None:
    if os.geteuid() != 0:
        raise AssertionError("the FUSE views and the switch to nobody need root: run as root")


def run(*argv: str | Path, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in argv], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{argv[0]} failed: {result.stderr.strip()}")
    return result.stdout


def make_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    """A directory tree: ``{"etc/passwd": "root:x:0:0::/root:/bin/sh\\n", "tmp/": ""}``."""
    for name, content in files.items():
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def make_base(folder: Path, files: dict[str, bytes | str], size: str = "64M") -> Path:
    """``folder/base.qcow2``: an ext4 file system holding ``files``."""
    tree = make_tree(folder / "tree", files)
    raw = folder / "base.raw"
    run("mke2fs", "-q", "-F", "-t", "ext4", "-b", str(BLOCK), "-d", tree, raw, size)
    image = folder / "base.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image)
    raw.unlink()
    return image


def to_raw(image: Path, raw: Path) -> Path:
    run("qemu-img", "convert", "-O", "raw", image, raw)
    return raw


def debugfs(raw: Path, commands: list[str]) -> str:
    script = raw.with_suffix(".cmds")
    script.write_text("\n".join(commands) + "\n")
    return run("debugfs", "-w", "-f", script, raw)


def overlay_from_raw(changed: Path, base: Path, overlay: Path) -> Path:
    """An overlay of ``base`` whose top layer holds what differs in ``changed`` (raw)."""
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", changed.absolute(), "-F", "raw", overlay)
    run("qemu-img", "rebase", "-q", "-b", base.absolute(), "-F", "qcow2", overlay)
    return overlay


def make_overlay(
    base: Path,
    commands: list[str],
    *,
    patch: Callable[[Path], None] | None = None,
    name: str = "overlay.qcow2",
) -> Path:
    """A run's overlay on ``base``, changed by debugfs ``commands`` then by ``patch(raw)``."""
    folder = base.parent / (name + ".work")
    folder.mkdir()
    raw = to_raw(base, folder / "changed.raw")
    if commands:
        debugfs(raw, commands)
    if patch is not None:
        patch(raw)
    overlay = overlay_from_raw(raw, base, base.parent / name)
    # The changed raw image is the overlay's backing file only until the rebase: keep it
    # out of the way so nothing can read it by mistake.
    shutil.rmtree(folder)
    return overlay


def blocks_of(raw: Path, path: str) -> list[int]:
    out = run("debugfs", "-R", f"blocks {path}", raw)
    return [int(b) for b in out.split()]


def inode_of(raw: Path, path: str) -> int:
    out = run("debugfs", "-R", f"stat {path}", raw)
    return int(out.split()[1])


def write_block(raw: Path, block: int, data: bytes) -> None:
    assert len(data) <= BLOCK
    with raw.open("r+b") as handle:
        handle.seek(block * BLOCK)
        handle.write(data.ljust(BLOCK, b"\0"))


def replace_bytes(raw: Path, old: bytes, new: bytes) -> None:
    """Replace the one occurrence of ``old`` (a placeholder name) by ``new`` of equal length."""
    assert len(old) == len(new)
    data = bytearray(raw.read_bytes())
    at = data.find(old)
    assert at >= 0 and data.find(old, at + 1) < 0, "placeholder not unique"
    data[at : at + len(old)] = new
    raw.write_bytes(bytes(data))
