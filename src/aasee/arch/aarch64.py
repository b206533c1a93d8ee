"""64-bit ARM guests: Debian's arm64 kernel on QEMU's ``virt`` board, busybox userland.

Syscall wrappers (``__arm64_sys_*``) receive a ``struct pt_regs *`` whose x0..x30 come first,
8 bytes each. ``start_thread`` is inline on arm64, so argv is read at ``finalize_exec(bprm)``,
which the ELF loader calls once the new stack is written, just before starting the thread:
``bprm->p`` (the fourth word of ``struct linux_binprm``) points at argc and argv there. It
fires on every successful exec whether or not the raw syscall tracepoints are on (the
earlier ``syscall_trace_exit`` probe needed them, and its filter on a cleared syscall number
never matched: arm64 keeps execve's number across the exec so that ``sys_exit`` reports it).
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
_ARGC = "+24($arg1)"  # bprm->p of finalize_exec(struct linux_binprm *bprm)

PROFILE = ArchProfile(
    name="aarch64",
    aliases=("arm64", "armv8"),
    description="64-bit ARM Linux: embedded device or board with busybox",
    emulation=Emulation(
        emulator="qemu-system-aarch64",
        machine="virt",
        libvirt_arch="aarch64",
        pci_bus="pcie.0",
        console="ttyAMA0",
        # cortex-a57: -cpu max boots about 4 times slower under TCG (pointer authentication).
        cpu_tcg="cortex-a57",
        kvm_hosts=("aarch64",),
        default_memory_mib=512,
    ),
    kernel=DebianKernel(
        "linux-image-arm64",
        # ext4 is a module in this kernel (built in only in the x86-64 cloud kernel).
        initramfs_modules=("virtio_pci", "virtio_blk", "ext4"),
    ),
    userland=Userland(kind="busybox", debian_arch="arm64"),
    go=GoTarget("arm64"),
    tracer=TracerAbi(
        word_bits=64,
        function_args=("$arg1", "$arg2", "$arg3", "$arg4", "$arg5", "$arg6"),
        syscall_wrapper="__arm64_sys_{name}",
        syscall_args=tuple(f"+{8 * i}($arg1)" for i in range(6)),
        missing_syscalls=frozenset({"chmod"}),
        argv_probes=(
            ProbeSpec(
                "argv",
                "finalize_exec",
                f"argc=+u0({_ARGC}):u64 "
                + " ".join(f"a{i}=+0(+u{8 * (i + 1)}({_ARGC})):ustring" for i in range(ARGV_MAX)),
            ),
        ),
    ),
    syscall_abis=("aarch64",),
    elf=(ElfMatch(machine=183, bits=64, endian="little", abi="aarch64"),),
    default_image="iot-aarch64",
    boot_seconds_hint=6.0,
)
