"""32-bit big-endian MIPS guests: a kernel built from Debian's sources, busybox built too.

Debian has had no big-endian ``mips`` port since buster, so nothing of the guest comes as a
package for it: the kernel is built from ``linux-source-6.1`` for the Malta board with
``gcc-mips-linux-gnu``, on the configuration of Debian's little-endian Malta kernel turned
big-endian (everything the guest needs built in, no modules), busybox from
Debian's busybox source package with the same compiler, and the C library is the one of
Debian's ``libc6-mips-cross``. The agent is Go, which targets big-endian MIPS itself.
"""

from __future__ import annotations

from aasee.arch._mips_common import TRACER, go_target, malta, o32_runnable
from aasee.arch.profile import ArchProfile, ElfMatch, SourceKernel, Userland

KERNEL_CONFIG = (
    "CONFIG_CPU_BIG_ENDIAN=y",
    "# CONFIG_CPU_LITTLE_ENDIAN is not set",
    "CONFIG_MODULES=y",
    # 4 KiB pages, as on the devices (malta_defconfig has 16 KiB): programs linked with 4 KiB
    # segment alignment, common in IoT toolchains, load only then.
    "CONFIG_PAGE_SIZE_4KB=y",
    "# CONFIG_PAGE_SIZE_16KB is not set",
    "CONFIG_MIPS_O32_FP64_SUPPORT=y",
    "CONFIG_PCI=y",
    "CONFIG_VIRTIO_MENU=y",
    "CONFIG_VIRTIO_PCI=y",
    "CONFIG_VIRTIO_BLK=y",
    "CONFIG_VIRTIO_NET=y",
    "CONFIG_VIRTIO_CONSOLE=y",
    "CONFIG_HW_RANDOM=y",
    "CONFIG_HW_RANDOM_VIRTIO=y",
    "CONFIG_EXT4_FS=y",
    "CONFIG_DEVTMPFS=y",
    "CONFIG_DEVTMPFS_MOUNT=y",
    "CONFIG_TMPFS=y",
    "CONFIG_KALLSYMS=y",
    "CONFIG_KALLSYMS_ALL=y",
    "CONFIG_FTRACE=y",
    "CONFIG_KPROBES=y",
    "CONFIG_KPROBE_EVENTS=y",
    # uprobe events need perf events, which malta_defconfig leaves out.
    "CONFIG_PERF_EVENTS=y",
    "CONFIG_UPROBE_EVENTS=y",
    "CONFIG_FTRACE_SYSCALLS=y",
    "CONFIG_DYNAMIC_EVENTS=y",
    "CONFIG_SECURITY=y",
    "CONFIG_SECURITYFS=y",
    "CONFIG_SECURITY_LOCKDOWN_LSM=y",
    'CONFIG_LSM="lockdown"',
    # A periodic tick, as in Debian's Malta kernels (the base configuration already says so).
    "CONFIG_HZ_PERIODIC=y",
    "# CONFIG_NO_HZ_IDLE is not set",
    "CONFIG_SERIAL_8250=y",
    "CONFIG_SERIAL_8250_CONSOLE=y",
    "CONFIG_NET=y",
    "CONFIG_INET=y",
    "CONFIG_IPV6=y",
    "CONFIG_UNIX=y",
    "CONFIG_PACKET=y",
    "CONFIG_NETFILTER=y",
    "CONFIG_NF_CONNTRACK=y",
    "CONFIG_NETFILTER_XTABLES=y",
    "CONFIG_IP_NF_IPTABLES=y",
    "CONFIG_IP_NF_FILTER=y",
    "CONFIG_NF_NAT=y",
    "CONFIG_IP_NF_NAT=y",
    "CONFIG_IP_NF_TARGET_MASQUERADE=y",
    "CONFIG_NETFILTER_XT_TARGET_REDIRECT=y",
    "CONFIG_BINFMT_ELF=y",
    "CONFIG_BINFMT_SCRIPT=y",
    "CONFIG_PROC_FS=y",
    "CONFIG_SYSFS=y",
    "CONFIG_FUTEX=y",
    "CONFIG_EPOLL=y",
    "CONFIG_SIGNALFD=y",
    "CONFIG_TIMERFD=y",
    "CONFIG_EVENTFD=y",
    "CONFIG_POSIX_TIMERS=y",
    "CONFIG_MEMFD_CREATE=y",
    "CONFIG_DEBUG_INFO_NONE=y",
    "# CONFIG_SOUND is not set",
    "# CONFIG_USB_SUPPORT is not set",
    "# CONFIG_DRM is not set",
    "# CONFIG_FB is not set",
    "# CONFIG_WLAN is not set",
)

PROFILE = ArchProfile(
    name="mips",
    aliases=("mipsbe", "mipseb", "mips32"),
    description="32-bit big-endian MIPS Linux (o32): embedded device with busybox",
    # No time warp: restored from a ready snapshot with the tracer armed, this kernel
    # sometimes livelocks QEMU under -icount (the vCPU thread spinning in timer reprogramming
    # with the big QEMU lock held; QMP and SIGTERM unanswered), seen again on 2026-12-07 with
    # Debian's Malta configuration after 0 in 18 earlier. It runs in real time instead.
    # Restored without the time warp, the guest took about 20 s to run a sample (cold boot to
    # a ready agent: 4.5 s), so this guest boots cold for every analysis.
    emulation=malta("qemu-system-mips", "mips", time_warp=False, ready_snapshots=False),
    kernel=SourceKernel(
        source_package="linux-source-6.1",
        kernel_arch="mips",
        cross_prefix="mips-linux-gnu-",
        cross_packages=("gcc-mips-linux-gnu",),
        # Debian's own Malta configuration (of its little-endian 4kc-malta kernel), turned
        # big-endian by the fragment. Built on malta_defconfig instead, the guest sometimes
        # livelocked QEMU under -icount once kprobes were hit (the vCPU thread spinning in
        # timer reprogramming with the BQL held, QMP dead): 4 restores in 10; 0 in 18 on
        # Debian's configuration, and 0 in 10 with Debian's own mipsel kernel.
        defconfig="debian-config:mipsel/linux-image-4kc-malta",
        config_fragment=KERNEL_CONFIG,
    ),
    userland=Userland(
        kind="busybox",
        debian_arch=None,
        busybox_from_source=True,
        cross_libc_dir="/usr/mips-linux-gnu/lib",
    ),
    go=go_target("mips"),
    tracer=TRACER,
    syscall_abis=("mips-o32",),
    elf=(ElfMatch(machine=8, bits=32, endian="big", abi="mips-o32", accepts=o32_runnable),),
    default_image="iot-mips",
    boot_seconds_hint=10.0,
)
