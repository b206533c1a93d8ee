"""Kernels: module resolution on a fake module tree, configuration handling, cache keys."""

from __future__ import annotations

import dataclasses
import lzma
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from aasee.arch import get_profile
from aasee.arch.profile import SourceKernel
from aasee.images.kernels import (
    _unmet,
    debian_base_config,
    disable_modules,
    module_load_order,
    parse_show_depends,
    source_kernel_key,
    unwrap_mips_vmlinuz,
)
from aasee.images.store import ImageError

RELEASE = "6.1.0-99-test"


def test_parse_show_depends_keeps_files_in_order_and_skips_builtins() -> None:
    output = (
        "builtin virtio\n"
        "insmod /k/lib/modules/r/kernel/drivers/virtio/virtio_ring.ko \n"
        "insmod /k/lib/modules/r/kernel/drivers/virtio/virtio_pci.ko force_legacy=1\n"
    )
    assert parse_show_depends(output) == [
        Path("/k/lib/modules/r/kernel/drivers/virtio/virtio_ring.ko"),
        Path("/k/lib/modules/r/kernel/drivers/virtio/virtio_pci.ko"),
    ]
    assert parse_show_depends("builtin ext4\n") == []


def _module(source: str, out: Path) -> None:
    """A real (host) relocatable object that depmod reads like a kernel module."""
    c_file = out.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run(["gcc", "-c", "-o", str(out), str(c_file)], check=True)
    c_file.unlink()


@pytest.fixture
def module_tree(tmp_path: Path) -> Path:
    """lib/modules/RELEASE with core <- transport <- blk, a builtin, and depmod's indexes."""
    if shutil.which("gcc") is None or shutil.which("depmod") is None:
        pytest.fail("gcc and depmod (kmod) are needed: run `make install`")
    kernel = tmp_path / "lib/modules" / RELEASE / "kernel/drivers/fake"
    kernel.mkdir(parents=True)
    info = 'static const char i[] __attribute__((section(".modinfo"), used)) = "license=GPL";\n'

    def export(name: str) -> str:
        return (
            f'const char __kstrtab_{name}[] __attribute__((section("__ksymtab_strings"), used))'
            f' = "{name}";\nvoid {name}(void) {{}}\n'
        )

    _module(info + export("core_fn"), kernel / "fake_core.ko")
    _module(
        info
        + "extern void core_fn(void);\n"
        + export("transport_fn").replace("{}", "{ core_fn(); }"),
        kernel / "fake_transport.ko",
    )
    _module(
        info + "extern void transport_fn(void);\nvoid blk_fn(void) { transport_fn(); }\n",
        kernel / "fake_blk.ko",
    )
    modules = tmp_path / "lib/modules" / RELEASE
    (modules / "modules.builtin").write_text("kernel/drivers/fake/fake_builtin.ko\n")
    (modules / "modules.order").write_text("")
    (modules / "modules.builtin.modinfo").write_bytes(b"")
    subprocess.run(["depmod", "-b", str(tmp_path), RELEASE], check=True, capture_output=True)
    return tmp_path


def test_module_load_order_puts_dependencies_first_once(module_tree: Path) -> None:
    order = module_load_order(module_tree, RELEASE, ["fake_blk", "fake_builtin", "fake_transport"])
    assert [p.name for p in order] == ["fake_core.ko", "fake_transport.ko", "fake_blk.ko"]
    assert all(p.is_file() for p in order)


def test_a_missing_module_is_an_error(module_tree: Path) -> None:
    with pytest.raises(ImageError, match="no_such_driver"):
        module_load_order(module_tree, RELEASE, ["no_such_driver"])


def test_disable_modules_turns_every_module_off() -> None:
    config = 'CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_DM=m\nCONFIG_S="m"\n'
    assert disable_modules(config).splitlines() == [
        "CONFIG_A=y",
        "# CONFIG_B is not set",
        "# CONFIG_C is not set",
        "# CONFIG_DM is not set",
        'CONFIG_S="m"',
    ]


def test_unmet_fragment_lines_are_reported() -> None:
    config = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_LSM="lockdown"\n'
    fragment = (
        "CONFIG_A=y",
        "# CONFIG_B is not set",
        "# CONFIG_ABSENT is not set",
        'CONFIG_LSM="lockdown"',
        "CONFIG_WANTED=y",
        "CONFIG_B=y",
    )
    assert _unmet(config, fragment) == ["CONFIG_WANTED=y", "CONFIG_B=y"]


def test_the_mips_profile_fragment_is_consistent() -> None:
    spec = get_profile("mips").kernel
    assert isinstance(spec, SourceKernel)
    assert "CONFIG_CPU_BIG_ENDIAN=y" in spec.config_fragment
    # kprobes need loadable-module support on 6.1, even with nothing built as a module.
    assert "CONFIG_MODULES=y" in spec.config_fragment
    assert "CONFIG_KPROBE_EVENTS=y" in spec.config_fragment
    assert spec.image_path == "vmlinux"  # booted uncompressed: no slow self-decompressor


def test_source_kernel_key_covers_sources_configuration_and_compiler() -> None:
    spec = get_profile("mips").kernel
    assert isinstance(spec, SourceKernel)
    key = source_kernel_key(spec, "6.1.192-3", "12.2.0")
    assert key == source_kernel_key(spec, "6.1.192-3", "12.2.0")
    assert key != source_kernel_key(spec, "6.1.193-1", "12.2.0")
    assert key != source_kernel_key(spec, "6.1.192-3", "13.1.0")
    more = dataclasses.replace(spec, config_fragment=(*spec.config_fragment, "CONFIG_TUN=y"))
    assert key != source_kernel_key(more, "6.1.192-3", "12.2.0")


def _words(endian: str, *words: int) -> bytes:
    return b"".join(struct.pack(endian + "I", w) for w in words)


def _fake_vmlinuz(endian: str, entry: int, self_jump_ok: bool = True) -> bytes:
    """A MIPS wrapper: ELF header, the head's jump to ``entry``, an xz-compressed kernel."""
    load = 0x80100000
    offset = entry - load
    kernel = bytearray(os.urandom(1 << 18) + bytes(1 << 20))
    target = entry + 4 * 6 if self_jump_ok else entry + 4 * 9
    hi, lo = target >> 16, target & 0xFFFF
    kernel[offset : offset + 24] = _words(
        endian,
        0x40086000,  # mfc0 t0, status
        0x000000C0,  # ehb
        0x3C080000 | hi,  # lui t0, hi
        0x25080000 | lo,  # addiu t0, t0, lo
        0x01000008,  # jr t0
        0x00000000,  # nop
    )
    head = _words(
        endian,
        0x02002025,
        0x02202825,
        0x02403025,
        0x02603825,
        0x3C190000 | (entry >> 16),  # lui t9, hi
        0x37390000 | (entry & 0xFFFF),  # ori t9, t9, lo
        0x0320F809,  # jalr t9
        0,
    )
    ident = b"\x7fELF" + bytes([1, 1 if endian == "<" else 2, 1]) + bytes(9)
    header = ident + struct.pack(
        endian + "HHIIIIIHHHHHH", 2, 8, 1, 0, 0, 0, 0x70001001, 52, 32, 0, 40, 0, 0
    )
    return header + head + lzma.compress(bytes(kernel), format=lzma.FORMAT_XZ)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_mips_vmlinuz_unwraps_to_an_elf_at_the_link_address(endian: str) -> None:
    entry = 0x80100000 + 0x1234 * 4
    elf = unwrap_mips_vmlinuz(_fake_vmlinuz(endian, entry))
    assert elf is not None
    assert elf[:4] == b"\x7fELF" and elf[5] == (1 if endian == "<" else 2)
    machine, _, e_entry, phoff = struct.unpack_from(endian + "HIII", elf, 18)
    assert (machine, e_entry, phoff) == (8, entry, 52)
    p_type, p_offset, p_vaddr, p_paddr, filesz = struct.unpack_from(endian + "5I", elf, 52)
    assert (p_type, p_vaddr, p_paddr, filesz) == (1, 0x80100000, 0x80100000, (1 << 18) + (1 << 20))
    assert len(elf) == p_offset + filesz


def test_mips_vmlinuz_with_a_foreign_entry_is_left_alone() -> None:
    assert unwrap_mips_vmlinuz(_fake_vmlinuz("<", 0x80100000 + 0x400, self_jump_ok=False)) is None
    assert unwrap_mips_vmlinuz(b"MZ not an elf" + bytes(100)) is None
    arm = bytearray(_fake_vmlinuz("<", 0x80100400))
    arm[18:20] = struct.pack("<H", 40)  # EM_ARM
    assert unwrap_mips_vmlinuz(bytes(arm)) is None


def test_debian_base_configurations() -> None:
    spec = get_profile("mips").kernel
    assert isinstance(spec, SourceKernel)
    assert debian_base_config(spec) == ("mipsel", "linux-image-4kc-malta")
    plain = dataclasses.replace(spec, defconfig="malta_defconfig")
    assert debian_base_config(plain) is None
    with pytest.raises(ImageError):
        debian_base_config(dataclasses.replace(spec, defconfig="debian-config:mipsel"))
    key = source_kernel_key(spec, "6.1.192-3", "12.2.0", "linux-image-6.1.0-50-4kc-malta=6.1.176-1")
    newer = "linux-image-6.1.0-58-4kc-malta=6.1.193-1"
    assert key != source_kernel_key(spec, "6.1.192-3", "12.2.0", newer)
