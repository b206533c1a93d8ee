"""The stage-1 initramfs every guest boots: busybox, a few kernel modules and ``/init``.

``/init`` (``assets/initramfs-init.sh``, see ``guest_layout``) loads the modules of
``/modules.order`` in that order, mounts the root disk named by ``root=`` on the kernel
command line, moves ``/dev`` over and ``switch_root``s to the root's start-up script. The
archive is a gzipped ``newc`` cpio written here, byte for byte reproducible (owner root,
time 0), with a ``/dev/console`` node so that ``/init`` has a console before devtmpfs.
"""

from __future__ import annotations

import gzip
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aasee.images.guest_layout import stage1_init

__all__ = ["CpioEntry", "build_initramfs", "initramfs_entries", "newc_archive"]


@dataclass(frozen=True)
class CpioEntry:
    """One archive member: a directory, a regular file, a symlink or a character device."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _header(entry: CpioEntry, ino: int) -> bytes:
    name = entry.path.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = [
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        nlink,
        0,  # mtime
        len(entry.data),
        0,  # dev major
        0,  # dev minor
        entry.rdev[0],
        entry.rdev[1],
        len(name),
        0,  # check
    ]
    header = b"070701" + b"".join(f"{value:08x}".encode() for value in fields) + name
    return header + b"\0" * (-len(header) % 4)


def newc_archive(entries: Sequence[CpioEntry]) -> bytes:
    """A ``newc`` cpio archive of ``entries``, in order, with the trailer."""
    out = bytearray()
    for ino, entry in enumerate([*entries, CpioEntry("TRAILER!!!", 0)], start=1):
        out += _header(entry, ino if entry.path != "TRAILER!!!" else 0)
        out += entry.data + b"\0" * (-len(entry.data) % 4)
    out += b"\0" * (-len(out) % 512)
    return bytes(out)


def initramfs_entries(
    busybox: bytes, modules: Sequence[tuple[str, bytes]], init: bytes
) -> list[CpioEntry]:
    """The members of the initramfs: ``modules`` are (file name, bytes) in load order."""
    directory = stat.S_IFDIR | 0o755
    entries = [
        CpioEntry(name, directory) for name in ("bin", "dev", "proc", "sys", "newroot", "modules")
    ]
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(CpioEntry("bin/busybox", stat.S_IFREG | 0o755, busybox))
    entries.append(CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    order = []
    for name, data in modules:
        entries.append(CpioEntry(f"modules/{name}", stat.S_IFREG | 0o644, data))
        order.append(name.removesuffix(".ko"))
    entries.append(
        CpioEntry("modules.order", stat.S_IFREG | 0o644, "".join(f"{m}\n" for m in order).encode())
    )
    entries.append(CpioEntry("init", stat.S_IFREG | 0o755, init))
    return entries


def build_initramfs(busybox: Path, modules: Sequence[Path], out: Path) -> Path:
    """Write the gzipped initramfs: ``busybox`` (static), ``modules`` in load order."""
    names = [m.name for m in modules]
    if len(set(names)) != len(names):
        raise ValueError(f"two modules share a file name: {names}")
    entries = initramfs_entries(
        busybox.read_bytes(), [(m.name, m.read_bytes()) for m in modules], stage1_init()
    )
    partial = out.with_name(f".{out.name}.part")
    partial.write_bytes(gzip.compress(newc_archive(entries), compresslevel=6, mtime=0))
    partial.replace(out)
    return out
