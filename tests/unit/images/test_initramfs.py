"""The initramfs: a reproducible newc archive with busybox, the modules in order and /init."""

from __future__ import annotations

import gzip
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from aasee.images.guest_layout import AGENT_PATH, STAGE2_PATH, stage1_init, stage2_init
from aasee.images.initramfs import CpioEntry, build_initramfs, newc_archive


def _members(archive: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name -> (mode, data, (rdev major, minor)), parsed independently of the writer."""
    found: dict[str, tuple[int, bytes, tuple[int, int]]] = {}
    offset = 0
    while True:
        header = archive[offset : offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmajor, rminor, namesize = (
            fields[1],
            fields[6],
            fields[9],
            fields[10],
            fields[11],
        )
        name_end = offset + 110 + namesize
        name = archive[offset + 110 : name_end - 1].decode()
        data_start = name_end + (-name_end % 4)
        data = archive[data_start : data_start + size]
        offset = data_start + size + (-(data_start + size) % 4)
        if name == "TRAILER!!!":
            return found
        found[name] = (mode, data, (rmajor, rminor))


@pytest.fixture
def built(tmp_path: Path) -> Path:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox")
    modules = []
    for name in ("virtio_ring", "virtio_pci", "ext4"):
        module = tmp_path / "mods" / name / f"{name}.ko"
        module.parent.mkdir(parents=True)
        module.write_bytes(name.encode() * 3)
        modules.append(module)
    return build_initramfs(busybox, modules, tmp_path / "initrd.img")


def test_members(built: Path) -> None:
    members = _members(gzip.decompress(built.read_bytes()))
    mode, data, _ = members["init"]
    assert stat.S_ISREG(mode) and mode & 0o111
    assert data == stage1_init()
    assert members["bin/busybox"][1] == b"\x7fELF fake busybox"
    assert stat.S_ISLNK(members["bin/sh"][0]) and members["bin/sh"][1] == b"busybox"
    console = members["dev/console"]
    assert stat.S_ISCHR(console[0]) and console[2] == (5, 1)
    assert members["modules.order"][1] == b"virtio_ring\nvirtio_pci\next4\n"
    assert members["modules/ext4.ko"][1] == b"ext4ext4ext4"
    for directory in ("proc", "sys", "dev", "newroot"):
        assert stat.S_ISDIR(members[directory][0])


def test_reproducible(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    shutil.copytree(tmp_path / "mods", again / "mods")
    (again / "busybox").write_bytes(b"\x7fELF fake busybox")
    modules = [again / "mods" / n / f"{n}.ko" for n in ("virtio_ring", "virtio_pci", "ext4")]
    second = build_initramfs(again / "busybox", modules, again / "initrd.img")
    assert second.read_bytes() == built.read_bytes()


def test_cpio_reads_the_archive(tmp_path: Path) -> None:
    if shutil.which("cpio") is None:
        pytest.skip("cpio is not installed")
    archive = newc_archive(
        [
            CpioEntry("bin", stat.S_IFDIR | 0o755),
            CpioEntry("bin/x", stat.S_IFREG | 0o755, b"abc"),
            CpioEntry("bin/y", stat.S_IFLNK | 0o777, b"x"),
        ]
    )
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert listing.split() == ["bin", "bin/x", "bin/y"]


def test_module_names_must_be_unique(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "x.ko").write_bytes(b"")
    (tmp_path / "bb").write_bytes(b"")
    with pytest.raises(ValueError):
        build_initramfs(tmp_path / "bb", [tmp_path / "a/x.ko", tmp_path / "b/x.ko"], tmp_path / "i")


def test_start_up_chain_names_nothing_of_the_sandbox() -> None:
    stage1, stage2 = stage1_init().decode(), stage2_init().decode()
    placeholder = re.compile(r"@[A-Z0-9_]+@")  # a template marker left unexpanded
    assert f"init={STAGE2_PATH}" in stage1 and not placeholder.search(stage1)
    assert f'exec {AGENT_PATH} --init "$@"' in stage2 and not placeholder.search(stage2)
    for script in (stage1, stage2):
        assert "aasee" not in script.lower()
        assert "agent" not in script.lower()
    # The virtio ports are linked by their names, whatever they are.
    assert "/sys/class/virtio-ports/" in stage2 and "/dev/virtio-ports/" in stage2
    assert "10.0.2.15/24" in stage2 and "via 10.0.2.2" in stage2
