"""x86-64 guests: the Debian server victim; also runs i386 programs through the compat ABI.

Syscall wrappers receive a ``struct pt_regs *``: di=112, si=104, dx=96, r10=56, r8=72, r9=64
bytes in for native calls, bx=40, cx=88, dx=96, si=104, di=112, bp=32 for i386 ones. i386
processes are recognised by the kernel starting them with ``compat_start_thread``; their
argv pointers are 32-bit, which a 64-bit kernel's probe cannot dereference one by one, so
only the last argument (followed by the NULL terminator) is read: the rest show as faults.
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
_REGS64 = ("+112($arg1)", "+104($arg1)", "+96($arg1)", "+56($arg1)", "+72($arg1)", "+64($arg1)")
_REGS32 = ("+40($arg1)", "+88($arg1)", "+96($arg1)", "+104($arg1)", "+112($arg1)", "+32($arg1)")


def _ia32(event: str, name: str, fetch: str) -> ProbeSpec:
    return ProbeSpec(f"{event}__i386", f"__ia32_sys_{name}", fetch)


PROFILE = ArchProfile(
    name="x86_64",
    aliases=("amd64", "x86-64", "i386", "i686", "x86"),
    description="x86-64 (and i386) Linux: Debian bookworm server",
    emulation=Emulation(
        emulator="qemu-system-x86_64",
        machine="pc",
        libvirt_arch="x86_64",
        pci_bus="pci.0",
        console="ttyS0",
        kvm_hosts=("x86_64",),
        default_memory_mib=1024,
    ),
    kernel=DebianKernel("linux-image-cloud-amd64"),
    userland=Userland(kind="debian", debian_arch="amd64"),
    go=GoTarget("amd64"),
    tracer=TracerAbi(
        word_bits=64,
        function_args=("$arg1", "$arg2", "$arg3", "$arg4", "$arg5", "$arg6"),
        syscall_wrapper="__x64_sys_{name}",
        syscall_args=_REGS64,
        argv_probes=(
            # After exec the new stack holds argc, argv[] and the strings, written by the
            # kernel: nothing there can be unmapped.
            ProbeSpec(
                "argv",
                "start_thread",
                "argc=+u0($arg3):u64 "
                + " ".join(f"a{i}=+0(+u{8 * (i + 1)}($arg3)):ustring" for i in range(ARGV_MAX)),
            ),
            ProbeSpec(
                "argv__i386",
                "compat_start_thread",
                "argc=+u0($arg3):u32 "
                + " ".join(f"a{i}=+0(+u{4 * (i + 1)}($arg3)):ustring" for i in range(ARGV_MAX)),
            ),
        ),
        extra_probes=(
            _ia32("chmod", "chmod", f"path=+0({_REGS32[0]}):ustring mode={_REGS32[1]}:x16"),
            _ia32(
                "fchmodat",
                "fchmodat",
                f"dfd={_REGS32[0]}:s32 path=+0({_REGS32[1]}):ustring mode={_REGS32[2]}:x16",
            ),
            _ia32("fchmod", "fchmod", f"fd={_REGS32[0]}:s32 mode={_REGS32[1]}:x16"),
            _ia32("chdir", "chdir", f"path=+0({_REGS32[0]}):ustring"),
            _ia32("ptrace", "ptrace", f"request={_REGS32[0]}:s32 pid={_REGS32[1]}:s32"),
        ),
    ),
    syscall_abis=("x86_64", "i386"),
    elf=(
        ElfMatch(machine=62, bits=64, endian="little", abi="x86_64"),
        ElfMatch(machine=3, bits=32, endian="little", abi="i386"),
    ),
    default_image="debian-bookworm-amd64",
    boot_seconds_hint=8.0,
)
