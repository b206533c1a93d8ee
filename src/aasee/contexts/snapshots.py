"""Ready snapshots: a guest booted once to "agent ready", its memory state saved for reuse.

A snapshot is a directory holding ``disk.qcow2`` (the overlay the guest booted on, frozen
read-only: the saved memory expects exactly this disk), ``state.bin`` (QEMU's migration
stream) and ``meta.json``. It is keyed by the image's inputs and the VM shape (memory,
vCPUs, machine, accelerator, time warp, network), because a state only loads into an
identical machine. Each analysis restores it into a fresh QEMU on a new overlay of
``disk.qcow2``, so the snapshot itself never changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aasee.contexts.machine import AGENT_PORT
from aasee.contexts.qemu_config import ContextError, QemuConfig, qemu_user
from aasee.contexts.qemu_process import QemuProcessContext

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 3  # 3: a firmware-like SMBIOS type 0 table; the tracer armed with a seal


@dataclass(frozen=True)
class Snapshot:
    directory: Path
    key: str
    disk: Path
    state: Path
    save_seconds: float
    created: str
    trace_seal: int | None = None
    """The seal the saved guest's tracer was armed with (``guest/probes.py``): runs restored
    from it arm the same plan, so nothing is re-armed."""


def shape_of(config: QemuConfig) -> dict[str, object]:
    shape: dict[str, object] = {
        "format": SNAPSHOT_FORMAT,
        "memory_mib": config.memory_mib,
        "vcpus": config.vcpus,
        "arch": config.profile.name,
        "machine": ",".join(
            [config.profile.emulation.machine, *config.profile.emulation.machine_options]
        ),
        "identity": repr(config.guest.identity),
        "accel": config.accel.accel,
        "time_warp": config.time_warp
        and config.accel.accel == "tcg"
        and config.profile.emulation.time_warp,
        # The guest side of an internet run is the fake network's: same NIC, addresses, tap.
        "network": "fake" if config.network == "internet" else config.network,
        "agent_port": AGENT_PORT,
    }
    if config.display:
        # Only when set, so that the keys of snapshots without a display stay what they were.
        shape["display"] = True
    return shape


def snapshot_key(image_key: str, config: QemuConfig) -> str:
    blob = json.dumps({"image": image_key, "shape": shape_of(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def snapshot_dir(root: Path, image_name: str, key: str) -> Path:
    return root / f"{image_name}-{key}"


def find_snapshot(
    root: Path, image_name: str, image_key: str, config: QemuConfig
) -> tuple[Snapshot | None, str]:
    """The usable snapshot for this image and shape, or None and the reason why not."""
    key = snapshot_key(image_key, config)
    directory = snapshot_dir(root, image_name, key)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        others = [p.name for p in root.glob(f"{image_name}-*")] if root.is_dir() else []
        if others:
            return None, (
                f"no snapshot for this image and VM shape (have {', '.join(others)}; "
                "they were made for another image build or VM shape)"
            )
        return None, "no snapshot yet (`aasee image snapshot` makes one)"
    try:
        meta = json.loads(meta_path.read_text())
        snapshot = Snapshot(
            directory,
            key,
            directory / "disk.qcow2",
            directory / "state.bin",
            float(meta["save_seconds"]),
            str(meta["created"]),
            int(meta["trace_seal"]) if meta.get("trace_seal") is not None else None,
        )
        if meta.get("key") != key or meta.get("image_key") != image_key:
            return None, "snapshot metadata does not match this image and VM shape"
        size = snapshot.state.stat().st_size
        if size != int(meta["state_bytes"]):
            return None, f"snapshot state is {size} bytes, {meta['state_bytes']} were saved"
        if not snapshot.disk.is_file():
            return None, "snapshot disk is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"snapshot unreadable: {exc}"
    return snapshot, "ok"


def create_snapshot(
    root: Path,
    image_name: str,
    image_key: str,
    config: QemuConfig,
    wait_ready: object,
    boot_timeout: float = 180,
    check_restored: object = None,
    attempts: int = 3,
) -> Snapshot:
    """Cold-boot the guest, wait for its agent, save the state; replaces an older one.

    ``wait_ready(socket_path, timeout)`` is the guest layer's readiness check (contexts
    cannot import it), returning when the agent answered and the host side is closed; a dict
    it returns (e.g. the tracer's seal) is kept in the snapshot's metadata.
    ``check_restored(socket_path)``, if given, is run on a guest restored from the new
    snapshot and raises if that guest does not stay responsive: some saved states (measured
    on the MIPS guests under the time warp) restore into a QEMU that livelocks once the guest
    idles. Such a snapshot is thrown away and the guest booted again, ``attempts`` times.
    """
    failures: list[str] = []
    for _ in range(max(attempts, 1)):
        snapshot = _create_snapshot(root, image_name, image_key, config, wait_ready, boot_timeout)
        if check_restored is None:
            return snapshot
        context = QemuProcessContext(
            str(uuid.uuid4()),
            config,
            disk_base=snapshot.disk,
            state_file=snapshot.state,
            trace_seal=snapshot.trace_seal,
        )
        try:
            context.poweron()
            check_restored(context.agent_socket)  # type: ignore[operator]
            return snapshot
        except Exception as exc:  # the saved state is bad: make another one
            log.warning(
                "snapshot %s does not restore into a responsive guest: %s", key_of(snapshot), exc
            )
            failures.append(str(exc))
            shutil.rmtree(snapshot.directory, ignore_errors=True)
        finally:
            context.cleanup()
    raise ContextError(
        f"no snapshot of {image_name} restored into a responsive guest in {attempts} tries "
        f"({failures[-1] if failures else 'no reason'}); analyses boot it cold"
    )


def key_of(snapshot: Snapshot) -> str:
    return snapshot.directory.name


def _create_snapshot(
    root: Path,
    image_name: str,
    image_key: str,
    config: QemuConfig,
    wait_ready: object,
    boot_timeout: float,
) -> Snapshot:
    key = snapshot_key(image_key, config)
    final = snapshot_dir(root, image_name, key)
    building = root / f".{image_name}-{key}.{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    building.mkdir(mode=0o770)
    uid, gid = qemu_user()
    os.chown(building, uid, gid)
    context = QemuProcessContext(str(uuid.uuid4()), config, keep_overlay=building / "disk.qcow2")
    try:
        context.poweron()
        boot_start = time.monotonic()
        armed = wait_ready(context.agent_socket, boot_timeout)  # type: ignore[operator]
        boot_seconds = time.monotonic() - boot_start
        save_seconds = context.save_state(building / "state.bin")
        context.poweroff()
    except BaseException:
        context.cleanup()
        shutil.rmtree(building, ignore_errors=True)
        raise
    context.cleanup()
    for path in (building, building / "disk.qcow2", building / "state.bin"):
        os.chown(path, 0, 0)
    os.chmod(building, 0o755)
    os.chmod(building / "disk.qcow2", 0o444)
    os.chmod(building / "state.bin", 0o444)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = {
        "key": key,
        "image": image_name,
        "image_key": image_key,
        "shape": shape_of(config),
        "state_bytes": (building / "state.bin").stat().st_size,
        "save_seconds": round(save_seconds, 3),
        "boot_seconds": round(boot_seconds, 3),
        "created": created,
        **(armed if isinstance(armed, dict) else {}),
    }
    (building / "meta.json").write_text(json.dumps(meta, indent=2))
    # It may hold the tracer's seal: not for other users of the host.
    os.chmod(building / "meta.json", 0o600)
    if final.exists():
        shutil.rmtree(final)
    os.replace(building, final)
    _prune_other_builds(root, image_name, image_key)
    log.info(
        "snapshot %s saved (%d bytes of state in %.2f s)", final, meta["state_bytes"], save_seconds
    )
    seal = meta.get("trace_seal")
    return Snapshot(
        final,
        key,
        final / "disk.qcow2",
        final / "state.bin",
        save_seconds,
        created,
        int(seal) if isinstance(seal, int) else None,
    )


def _prune_other_builds(root: Path, image_name: str, image_key: str) -> None:
    """Snapshots of an older build of this image can never be restored again: drop them."""
    for meta_path in root.glob(f"{image_name}-*/meta.json"):
        try:
            stale = json.loads(meta_path.read_text()).get("image_key") != image_key
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(meta_path.parent, ignore_errors=True)
            log.info("removed snapshot %s of an older image build", meta_path.parent.name)


def list_snapshots(root: Path, image_name: str) -> list[dict[str, Any]]:
    """The metadata of every snapshot saved for an image (any build, any shape)."""
    found = []
    for meta_path in sorted(root.glob(f"{image_name}-*/meta.json")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("shape"), dict):
            found.append(meta)
    return found
