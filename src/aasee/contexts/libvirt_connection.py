"""Connections to libvirt, starting the daemons when no init system manages them.

On machines without systemd (containers, CI runners, these build hosts) nothing starts
``virtlogd`` and ``libvirtd``; as root we start them ourselves rather than fail.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time

import libvirt

log = logging.getLogger(__name__)

DEFAULT_URI = "qemu:///system"
SYSTEM_SOCKET = "/run/libvirt/libvirt-sock"


class LibvirtUnavailable(Exception):
    """libvirt cannot be reached; the message says how to fix it."""


def _silence_default_handler() -> None:
    # libvirt prints every error to stderr by default; we raise them as exceptions instead.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _daemon_running(name: str) -> bool:
    result = subprocess.run(["pgrep", "-x", name], capture_output=True, check=False)
    return result.returncode == 0


KVM_MASK = "/run/aasee-kvm-mask"


def _start(argv: list[str]) -> None:
    try:
        subprocess.run(argv, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise LibvirtUnavailable(
            f"cannot start {argv[0]}: {exc.stderr.decode(errors='replace').strip()}"
        ) from exc


def _wait_socket(present: bool) -> None:
    deadline = time.monotonic() + 15
    while os.path.exists(SYSTEM_SOCKET) != present and time.monotonic() < deadline:
        time.sleep(0.05)


def _prime_capabilities(binary: str) -> None:
    """Have libvirt probe QEMU once in a namespace where /dev/kvm cannot be opened.

    On a host whose /dev/kvm exists but hangs guests, libvirt's own capability probe keeps
    finding its cache outdated and re-probes QEMU (about a minute) on every VM start. A
    probe made where /dev/kvm is a file QEMU cannot open records the truth (no KVM), and
    libvirt keeps that cache afterwards. Only used when the boot probe proved KVM broken.
    """
    with open(KVM_MASK, "w"):
        pass
    os.chmod(KVM_MASK, 0o600)
    _start(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount --bind {KVM_MASK} /dev/kvm && exec "$0" -d',
            binary,
        ]
    )
    _wait_socket(True)
    try:
        conn = libvirt.open(DEFAULT_URI)
        conn.getDomainCapabilities(None, None, None, "qemu", 0)  # the host's own arch
        conn.close()
    except libvirt.libvirtError as exc:
        log.warning("priming libvirt's QEMU capabilities failed: %s", exc)
    finally:
        subprocess.run(["pkill", "-x", "libvirtd"], check=False)
        deadline = time.monotonic() + 15
        while _daemon_running("libvirtd") and time.monotonic() < deadline:
            time.sleep(0.05)


_DAEMON_LOCK = threading.Lock()


def ensure_daemons(kvm_broken: bool = False) -> None:
    """Start virtlogd and libvirtd if this is a root host where nothing else does."""
    if os.geteuid() != 0:
        return
    with _DAEMON_LOCK:  # concurrent analyses must not start two daemons
        _ensure_daemons(kvm_broken)


def _ensure_daemons(kvm_broken: bool) -> None:
    for daemon in ("virtlogd", "libvirtd"):
        if _daemon_running(daemon):
            continue
        binary = shutil.which(daemon) or f"/usr/sbin/{daemon}"
        if not os.path.exists(binary):
            raise LibvirtUnavailable(f"{daemon} is not installed; run `make install` first")
        if daemon == "libvirtd" and kvm_broken and os.path.exists("/dev/kvm"):
            log.info("priming libvirt's QEMU capabilities without KVM")
            _prime_capabilities(binary)
        log.info("starting %s (no init system is managing it)", daemon)
        if daemon == "libvirtd" and _unused_unified_hierarchy():
            _start(_without_unified_hierarchy(binary))
        else:
            _start([binary, "-d"])
        if daemon == "libvirtd":
            _remember_ours()
    _wait_socket(True)


OURS = "/run/aasee-libvirtd.pid"


def _libvirtd_pids() -> list[int]:
    result = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def _remember_ours() -> None:
    deadline = time.monotonic() + 5
    while not (pids := _libvirtd_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pids:
        with open(OURS, "w") as out:
            out.write(str(max(pids)))


def libvirt_reprobes_kvm(kvm_broken: bool) -> bool:
    """Would a libvirt VM start pay a QEMU capability probe of about a minute here?

    Yes on a host whose /dev/kvm exists but hangs guests (``kvm_broken``) when the running
    libvirtd is not one AASEE started (a system service, or started by hand): only ours
    probed QEMU where /dev/kvm could not be opened (``_prime_capabilities``), and any other
    finds its cache outdated at every VM start. When no libvirtd runs, AASEE starts its own.
    """
    if not kvm_broken or not os.path.exists("/dev/kvm"):
        return False
    running = _libvirtd_pids()
    if not running:
        return False
    try:
        with open(OURS) as ours:
            return int(ours.read().strip()) not in running
    except (OSError, ValueError):
        return True


UNIFIED = "/sys/fs/cgroup/unified"


def _mount_types() -> dict[str, str]:
    """Mount point -> file system type, from this process's mount table."""
    types: dict[str, str] = {}
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3:
                types[fields[1]] = fields[2]
    return types


def _unused_unified_hierarchy() -> bool:
    """A cgroup "hybrid" host (v1 controllers plus an empty v2 tree at ``/sys/fs/cgroup/unified``)
    where no cgroup lives in the v2 tree: nothing but libvirt would ever use it."""
    if _mount_types().get(UNIFIED) != "cgroup2":
        return False
    try:
        entries = os.listdir(UNIFIED)
    except OSError:
        return False
    # Only libvirt's own (possibly empty) machine tree, left by an earlier failed start.
    return all(not os.path.isdir(os.path.join(UNIFIED, e)) or e == "machine" for e in entries)


def _without_unified_hierarchy(binary: str) -> list[str]:
    """libvirtd in a mount namespace of its own, without the unused v2 tree.

    libvirt 9.0's LXC driver cannot start a container on a hybrid host: it bind-mounts the v2
    tree inside the container before it has mounted the tmpfs that should hold it, and fails
    with "Unable to create directory /sys/fs/cgroup/unified" (measured). Without the v2 tree
    libvirt uses the v1 controllers for containers and VMs alike. The host keeps its own mount
    table: the root is made a shared mount first so that mounts made later on the host (a
    container's root file system) still reach libvirtd's namespace, as a slave.
    """
    _start(["mount", "--make-rshared", "/"])
    return [
        "unshare",
        "--mount",
        "--propagation",
        "slave",
        "sh",
        "-c",
        f'umount {UNIFIED} && exec "$0" -d',
        binary,
    ]


def connect(uri: str = DEFAULT_URI, kvm_broken: bool = False) -> libvirt.virConnect:
    _silence_default_handler()
    if uri == DEFAULT_URI or uri.startswith("lxc:"):
        ensure_daemons(kvm_broken)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LibvirtUnavailable(
            f"cannot connect to libvirt at {uri}: {exc}. Is libvirtd running "
            "(`libvirtd -d` as root) and do you have access to it?"
        ) from exc
    if conn is None:
        raise LibvirtUnavailable(f"cannot connect to libvirt at {uri}")
    return conn


def domain_active(domain: libvirt.virDomain | None) -> bool:
    """Whether ``domain`` runs; a domain libvirt no longer knows does not."""
    if domain is None:
        return False
    try:
        return bool(domain.isActive())
    except libvirt.libvirtError:
        return False


def destroy_domain(domain: libvirt.virDomain | None) -> libvirt.libvirtError | None:
    """Power ``domain`` off at once; returns libvirt's refusal, if any (a domain already
    gone is not one)."""
    if domain is None:
        return None
    try:
        if domain.isActive():
            domain.destroy()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            return exc
    return None
