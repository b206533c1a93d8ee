"""What the two 32-bit MIPS guests share: o32 calling convention, Malta board, ELF checks.

Kernel functions take arguments 1-4 in a0-a3 (r4-r7) and the fifth at sp+16 (o32 keeps a
16-byte save area); syscall handlers (``sys_*``) take them the same way. The kernel has no
``$argN`` fetch on MIPS, so registers are named.
"""

from __future__ import annotations

from aasee.arch.profile import Emulation, GoTarget, PciSlots, ProbeSpec, TracerAbi

ARGV_MAX = 8
EF_MIPS_ABI2 = 0x20
EF_MIPS_NAN2008 = 0x400
EF_MIPS_ABI = 0x0000F000
EF_MIPS_ARCH = 0xF0000000
_O32_ABIS = (0x0000, 0x1000)
_ARCH_NAMES = {
    0x20000000: "MIPS III",
    0x30000000: "MIPS IV",
    0x40000000: "MIPS V",
    0x60000000: "MIPS64",
    0x80000000: "MIPS64r2",
    0x90000000: "MIPS32r6",
    0xA0000000: "MIPS64r6",
}


def o32_runnable(flags: int) -> str | None:
    """None if a 32-bit MIPS ELF with these ``e_flags`` runs on a MIPS32r2 o32 guest."""
    if flags & EF_MIPS_ABI2:
        return "it uses the n32 ABI, which needs a 64-bit MIPS guest"
    if flags & EF_MIPS_ABI not in _O32_ABIS:
        return f"it uses a MIPS ABI other than o32 (e_flags ABI field {flags & EF_MIPS_ABI:#x})"
    arch = _ARCH_NAMES.get(flags & EF_MIPS_ARCH)
    if arch is not None:
        return f"it is built for {arch}, which the MIPS32r2 guest CPU cannot run"
    if flags & EF_MIPS_NAN2008:
        return "it uses IEEE 754-2008 NaN encoding, which the guest's legacy-NaN CPU refuses"
    return None


FUNCTION_ARGS = ("%r4", "%r5", "%r6", "%r7", "+16(%r29)", "+20(%r29)")

TRACER = TracerAbi(
    word_bits=32,
    function_args=FUNCTION_ARGS,
    syscall_wrapper="sys_{name}",
    syscall_args=FUNCTION_ARGS,
    argv_probes=(
        ProbeSpec(
            "argv",
            "start_thread",
            "argc=+u0(%r6):u32 "
            + " ".join(f"a{i}=+0(+u{4 * (i + 1)}(%r6)):ustring" for i in range(ARGV_MAX)),
        ),
    ),
)

GO_SOFTFLOAT = (("GOMIPS", "softfloat"),)


def malta(
    emulator: str, libvirt_arch: str, time_warp: bool = True, ready_snapshots: bool = True
) -> Emulation:
    return Emulation(
        emulator=emulator,
        machine="malta",
        libvirt_arch=libvirt_arch,
        # The GT-64120 bridge's bus is called "pci" on Malta (pci.0 does not exist there).
        pci_bus="pci",
        console="ttyS0",
        default_memory_mib=256,
        max_memory_mib=256,
        # Linux's Malta IRQ table routes slots 0x12-0x15 only (see PciSlots).
        pci_slots=PciSlots(disk=0x12, serial=0x13, rng=0x14, nic=0x15),
        time_warp=time_warp,
        ready_snapshots=ready_snapshots,
    )


def go_target(goarch: str) -> GoTarget:
    return GoTarget(goarch, GO_SOFTFLOAT)
