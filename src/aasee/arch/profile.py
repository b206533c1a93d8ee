"""What one guest architecture is made of: the ``ArchProfile`` every layer reads.

A profile holds everything that differs between architectures, so that nothing outside
``aasee.arch`` names one: how QEMU emulates it (binary, machine, CPU, buses, console), how
its guest is built (Debian architecture, kernel, userland, Go target of the agent), how the
in-guest tracer fetches arguments in its calling convention, which syscall ABIs its
processes use (the x86-64 guest also runs i386 programs), and which ELF files it runs.
Profiles are plain data; the modules beside this one each define one (``PROFILE``).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ArchProfile",
    "DebianKernel",
    "ElfMatch",
    "Emulation",
    "GoTarget",
    "PciSlots",
    "ProbeSpec",
    "SourceKernel",
    "TracerAbi",
    "Userland",
]

Endian = Literal["little", "big"]


@dataclass(frozen=True)
class PciSlots:
    """The PCI slot of each virtio device.

    Boards route interrupts to some slots only: on Malta, Linux's IRQ table covers slots
    0x12-0x15, and a device elsewhere gets no interrupt (its virtqueues fail to start).
    """

    disk: int = 0x4
    serial: int = 0x5
    rng: int = 0x6
    nic: int = 0x10


@dataclass(frozen=True)
class Emulation:
    """How QEMU runs this guest; rendered both as a command line and as libvirt XML."""

    emulator: str
    """QEMU system emulator binary, e.g. ``qemu-system-aarch64``."""
    machine: str
    """Machine type, e.g. ``virt``; machine options go in ``machine_options``."""
    libvirt_arch: str
    """libvirt's name of the guest architecture (``<type arch=...>``)."""
    pci_bus: str
    """Name of the root PCI bus devices are plugged into (``pci.0`` or ``pcie.0``)."""
    console: str
    """Kernel console device of the first serial port (``ttyS0``, ``ttyAMA0``)."""
    machine_options: tuple[str, ...] = ()
    """Extra ``-machine`` options, e.g. ``highmem=off`` (no PCI for a non-LPAE kernel else)."""
    cpu_tcg: str | None = None
    """CPU model under TCG; None keeps the machine's default."""
    cpu_kvm: str = "host"
    kvm_hosts: tuple[str, ...] = ()
    """Host ``uname -m`` values on which KVM can run this guest (empty: TCG only)."""
    default_memory_mib: int = 1024
    max_memory_mib: int = 3072
    time_warp: bool = True
    ready_snapshots: bool = True
    """Whether analyses restore a ready snapshot; where not, every run boots cold."""
    """Whether the time warp (``-icount``, TCG) is safe for this guest; where it is not, the
    guest runs in real time and samples' sleeps are not skipped."""
    disk_bus: Literal["virtio"] = "virtio"
    pci_slots: PciSlots = field(default_factory=PciSlots)
    """Where the virtio devices sit on the root bus (fixed: a saved state needs the same)."""


@dataclass(frozen=True)
class DebianKernel:
    """A kernel taken from Debian's packages for the guest's Debian architecture."""

    meta_package: str
    """Meta package whose dependency names the versioned image, e.g. ``linux-image-arm64``."""
    image_glob: str = "vmlinuz-*"
    """The kernel file inside the package's ``/boot``."""
    initramfs_modules: tuple[str, ...] = ("virtio_pci", "virtio_blk")
    """Modules stage 1 loads (with their dependencies) before it can mount the root disk."""
    userland_modules: tuple[str, ...] = ("virtio_console", "virtio_net", "virtio_rng")


@dataclass(frozen=True)
class SourceKernel:
    """A kernel built from Debian's kernel sources (``linux-source-*``) with a Debian cross gcc.

    For architectures Debian no longer ships (big-endian MIPS). Everything the guest needs is
    built in, so the guest has no modules.
    """

    source_package: str
    """The Debian package carrying the source tarball, e.g. ``linux-source-6.1``."""
    kernel_arch: str
    """``ARCH=`` of the kernel build."""
    cross_prefix: str
    """``CROSS_COMPILE=``, e.g. ``mips-linux-gnu-``."""
    cross_packages: tuple[str, ...]
    """Debian packages providing the cross compiler."""
    defconfig: str
    config_fragment: tuple[str, ...]
    """``CONFIG_...`` lines merged over the defconfig; ``=m`` options are dropped first."""
    target: str = "vmlinux"
    image_path: str = "vmlinux"
    """The built kernel file, relative to the build directory."""


@dataclass(frozen=True)
class Userland:
    """What the guest's root file system is made of.

    ``debian``: a debootstrapped Debian root (needs the host's own architecture).
    ``busybox``: an embedded-device root, as IoT malware finds on its targets: busybox, the C
    library, a few configuration files and the agent.
    """

    kind: Literal["debian", "busybox"]
    debian_arch: str | None
    """Debian architecture whose packages are used (None: no Debian port exists)."""
    busybox_from_source: bool = False
    """Build busybox from Debian's source package with the kernel's cross compiler."""
    libc_packages: tuple[str, ...] = ("libc6",)
    """Debian packages (of ``debian_arch``) unpacked for dynamically linked samples."""
    extra_libc_arches: tuple[str, ...] = ()
    """Further Debian architectures whose C library is added (armel beside armhf)."""
    cross_libc_dir: str | None = None
    """Host directory of a Debian cross C library to copy when ``debian_arch`` is None."""


@dataclass(frozen=True)
class GoTarget:
    """The agent's Go build target."""

    goarch: str
    env: tuple[tuple[str, str], ...] = ()
    """Further variables, e.g. ``GOARM=7`` or ``GOMIPS=softfloat``."""


@dataclass(frozen=True)
class ProbeSpec:
    """One kprobe the tracer defines: event name, kernel symbol and fetch arguments.

    ``event`` names the record the trace parser reads (``open``, ``argv``...); a second probe
    for one event (the same syscall through another ABI) is named ``<event>__<abi>``, e.g.
    ``argv__i386``: the parser strips the suffix and keeps it as the record's variant, and a
    process whose argv came through such a probe uses that ABI's syscall table from then on.
    ``retprobe`` adds ``<event>_r`` with the return value.
    """

    event: str
    symbol: str
    fetch: str
    retprobe: bool = False
    filter: str | None = None
    """An ftrace filter expression on the probe's own fields (e.g. only execve's exit)."""


@dataclass(frozen=True)
class TracerAbi:
    """How the in-guest tracer reads arguments in this architecture's calling convention.

    ``function_args[i]`` fetches argument i+1 of a kernel function at its entry; the
    syscall wrappers of architectures with ``CONFIG_ARCH_HAS_SYSCALL_WRAPPER`` receive a
    ``struct pt_regs *`` and ``syscall_args[i]`` reads argument i+1 from it; elsewhere the
    wrappers take the arguments directly and ``syscall_args`` equals ``function_args``.
    """

    word_bits: Literal[32, 64]
    function_args: tuple[str, ...]
    syscall_wrapper: str
    """Symbol of a syscall's entry, ``{name}`` replaced, e.g. ``__arm64_sys_{name}``."""
    syscall_args: tuple[str, ...]
    missing_syscalls: frozenset[str] = frozenset()
    """Syscalls this ABI does not have (arm64 has no ``chmod``)."""
    argv_probes: tuple[ProbeSpec, ...] = ()
    """Probes that record argc/argv of a process after exec (event ``argv``)."""
    extra_probes: tuple[ProbeSpec, ...] = ()
    """Architecture-only probes: compat-ABI variants and markers."""


@dataclass(frozen=True)
class ElfMatch:
    """The ELF files a profile runs: machine, class, byte order and an optional flag test."""

    machine: int
    bits: Literal[32, 64]
    endian: Endian
    abi: str
    """The syscall ABI such a program uses (a key of ``ArchProfile.syscall_abis``)."""
    accepts: Callable[[int], str | None] | None = None
    """Given ``e_flags``, None if runnable, else why not (e.g. MIPS n32 or R6)."""


@dataclass(frozen=True)
class ArchProfile:
    """Everything that differs between guest architectures."""

    name: str
    """Canonical name used in options, image metadata, run.json and the report."""
    aliases: tuple[str, ...]
    description: str
    emulation: Emulation
    kernel: DebianKernel | SourceKernel
    userland: Userland
    go: GoTarget
    tracer: TracerAbi
    syscall_abis: tuple[str, ...]
    """Syscall ABI tables (``aasee/arch/tables``) this guest's processes may use; first is
    the native one."""
    elf: tuple[ElfMatch, ...]
    default_image: str
    """Name of the image ``aasee image build --arch NAME`` makes."""
    boot_seconds_hint: float = 10.0
    """Rough cold-boot time under TCG, for timeouts and progress (measured figures in README)."""
    extra_cmdline: tuple[str, ...] = field(default_factory=tuple)

    @property
    def native_abi(self) -> str:
        return self.syscall_abis[0]

    @property
    def endian(self) -> Endian:
        """Byte order of the guest (kernel structures the tracer reads are in it)."""
        return self.elf[0].endian

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def runs_on_host(self) -> bool:
        """Whether this machine's own kernel runs this guest's programs (a container of it)."""
        return platform.machine() in self.names() or platform.machine() == self.go.goarch
