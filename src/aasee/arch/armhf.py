"""32-bit ARM guests (ARMv7 hard-float; ARMv5/ARMv6 EABI programs run there too).

Debian's armmp kernel on QEMU's ``virt`` board with ``highmem=off`` (the PCI window above
4 GiB is unreachable for a non-LPAE kernel, which would leave the guest without devices).
Kernel functions take arguments in r0-r3, the fifth at [sp]; ARM has no ``$argN`` fetch,
nor syscall wrappers (``sys_*`` take the arguments directly). ``start_thread`` is a macro,
so argv is read at ``finalize_exec(bprm)``, which the ELF loader calls once the new stack is
written: ``bprm->p`` (the fourth word of ``struct linux_binprm``, offset 12) points at argc
and argv. (``syscall_trace_exit`` only runs while syscall tracepoints are on, and fires on
every syscall: without a filter every exit would be recorded as an exec.)
The C libraries of both armhf and armel are installed, so dynamically linked ARMv5 soft-float
programs find their loader too. Old-ABI (OABI) programs cannot run: the kernel lacks
``CONFIG_OABI_COMPAT``.
"""

from __future__ import annotations

from aasee.arch.profile import (
    ArchProfile,
    DebianKernel,
    ElfMatch,
    Emulation,
    GoTarget,
    ProbeSpec,
    TracerAbi,
    Userland,
)

ARGV_MAX = 8
EF_ARM_EABIMASK = 0xFF000000
_ARGS = ("%r0", "%r1", "%r2", "%r3", "+0(%sp)", "+4(%sp)")
_ARGC = "+12(%r0)"  # bprm->p of finalize_exec(struct linux_binprm *bprm)


def eabi_runnable(flags: int) -> str | None:
    version = (flags & EF_ARM_EABIMASK) >> 24
    if version == 0:
        return "it uses the old ARM ABI (OABI), which the guest kernel does not support"
    return None


PROFILE = ArchProfile(
    name="armhf",
    aliases=("arm", "armv7", "armel", "armv5", "armv6"),
    description="32-bit ARM Linux (EABI, ARMv5 to ARMv7): embedded device with busybox",
    emulation=Emulation(
        emulator="qemu-system-arm",
        machine="virt",
        machine_options=("highmem=off",),
        libvirt_arch="armv7l",
        pci_bus="pcie.0",
        console="ttyAMA0",
        cpu_tcg="cortex-a15",
        default_memory_mib=512,
        max_memory_mib=2048,
    ),
    kernel=DebianKernel(
        "linux-image-armmp",
        # ext4 is a module in this kernel (built in only in the x86-64 cloud kernel).
        initramfs_modules=("virtio_pci", "virtio_blk", "ext4"),
    ),
    userland=Userland(kind="busybox", debian_arch="armhf", extra_libc_arches=("armel",)),
    go=GoTarget("arm", (("GOARM", "7"),)),
    tracer=TracerAbi(
        word_bits=32,
        function_args=_ARGS,
        syscall_wrapper="sys_{name}",
        syscall_args=_ARGS,
        argv_probes=(
            ProbeSpec(
                "argv",
                "finalize_exec",
                f"argc=+u0({_ARGC}):u32 "
                + " ".join(f"a{i}=+0(+u{4 * (i + 1)}({_ARGC})):ustring" for i in range(ARGV_MAX)),
            ),
        ),
    ),
    syscall_abis=("arm",),
    elf=(ElfMatch(machine=40, bits=32, endian="little", abi="arm", accepts=eabi_runnable),),
    default_image="iot-armhf",
    boot_seconds_hint=10.0,
)
