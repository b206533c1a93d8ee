"""Choosing the accelerator: KVM when a boot probe proves it works, TCG otherwise.

KVM only runs guests of the host's own architecture (the profile lists the hosts it can use);
every other guest is emulated (TCG). ``/dev/kvm`` existing is not enough: on nested or
paravirtualised hosts it can be present while guests hang. The probe boots the guest kernel
with no root file system under KVM and waits for it to print its banner and panic; only then
is KVM used. The verdict is cached per host boot (``/proc/sys/kernel/random/boot_id``) and
architecture, so the probe runs once.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aasee.arch import ArchProfile, host_arch

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class AccelChoice:
    accel: str  # "kvm" or "tcg"
    reason: str
    probe_seconds: float | None = None
    kvm_broken: bool = False  # the boot probe ran and KVM failed it


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(
    profile: ArchProfile, kernel: Path, timeout: float = PROBE_TIMEOUT
) -> tuple[bool, str, float]:
    """Boot ``kernel`` under KVM; True if it reaches its panic (no root) in time."""
    emulation = profile.emulation
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm does not exist", 0.0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible to this user", 0.0
    argv = [
        emulation.emulator,
        "-machine",
        ",".join([emulation.machine, *emulation.machine_options]),
        "-cpu",
        emulation.cpu_kvm,
        "-accel",
        "kvm",
        "-m",
        "256",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-kernel",
        str(kernel),
        "-append",
        f"console={emulation.console} panic=-1",
    ]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        return False, f"{emulation.emulator} is not installed", 0.0
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False, f"a KVM guest did not boot within {timeout:.0f} s (KVM hangs here)", timeout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - start
    text = out.decode(errors="replace")
    if "Linux version" in text and "Kernel panic" in text:
        return True, f"KVM boot probe passed in {elapsed:.1f} s", elapsed
    tail = text.strip().splitlines()[-1:] or ["no output"]
    return False, f"KVM boot probe failed: {tail[0][:200]}", elapsed


_PROBE_LOCK = threading.Lock()


def choose_accel(
    profile: ArchProfile, kernel: Path, requested: str, cache_dir: Path
) -> AccelChoice:
    """Resolve ``auto|kvm|tcg``; ``auto`` probes (cached), explicit choices are obeyed."""
    with _PROBE_LOCK:  # concurrent analyses share one probe
        return _choose_accel(profile, kernel, requested, cache_dir)


def _choose_accel(
    profile: ArchProfile, kernel: Path, requested: str, cache_dir: Path
) -> AccelChoice:
    if requested not in ("auto", "kvm", "tcg"):
        raise ValueError(f"accel must be auto, kvm or tcg, not {requested!r}")
    native = host_arch() in profile.emulation.kvm_hosts
    if requested == "tcg":
        return AccelChoice("tcg", "TCG requested by configuration")
    if not native:
        if requested == "kvm":
            raise ValueError(
                f"KVM cannot run {profile.name} guests on this {host_arch()} host: use TCG"
            )
        return AccelChoice("tcg", f"{profile.name} guest on a {host_arch()} host: emulated (TCG)")
    if requested == "kvm":
        return AccelChoice("kvm", "KVM requested by configuration")
    cache_file = cache_dir / f"accel-probe-{profile.name}.json"
    boot_id = _boot_id()
    try:
        cached = json.loads(cache_file.read_text())
        if cached.get("boot_id") == boot_id:
            return AccelChoice(
                cached["accel"],
                cached["reason"] + " (cached probe)",
                cached.get("seconds"),
                bool(cached.get("kvm_broken", False)),
            )
    except (OSError, ValueError, KeyError):
        pass
    ok, reason, seconds = probe_kvm(profile, kernel)
    choice = AccelChoice(
        "kvm" if ok else "tcg",
        reason if ok else f"{reason}; using TCG",
        seconds,
        kvm_broken=not ok and os.path.exists("/dev/kvm"),
    )
    log.info("accelerator: %s (%s)", choice.accel, choice.reason)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(
            json.dumps(
                {
                    "boot_id": boot_id,
                    "accel": choice.accel,
                    "reason": choice.reason,
                    "seconds": seconds,
                    "kvm_broken": choice.kvm_broken,
                }
            )
        )
    except OSError as exc:
        log.warning("cannot cache the accelerator probe in %s: %s", cache_file, exc)
    return choice
