"""32-bit little-endian MIPS guests (routers and cameras): Debian's Malta kernel, busybox."""

from __future__ import annotations

from aasee.arch._mips_common import TRACER, go_target, malta, o32_runnable
from aasee.arch.profile import ArchProfile, DebianKernel, ElfMatch, Userland

PROFILE = ArchProfile(
    name="mipsel",
    aliases=("mipsle", "mips32el"),
    description="32-bit little-endian MIPS Linux (o32): embedded device with busybox",
    emulation=malta("qemu-system-mipsel", "mipsel"),
    kernel=DebianKernel(
        "linux-image-4kc-malta",
        # ext4 is a module in this kernel (built in only in the x86-64 cloud kernel).
        initramfs_modules=("virtio_pci", "virtio_blk", "ext4"),
    ),
    userland=Userland(kind="busybox", debian_arch="mipsel"),
    go=go_target("mipsle"),
    tracer=TRACER,
    syscall_abis=("mips-o32",),
    elf=(ElfMatch(machine=8, bits=32, endian="little", abi="mips-o32", accepts=o32_runnable),),
    default_image="iot-mipsel",
    boot_seconds_hint=10.0,
)
