"""The warm pool: VMs restored from a ready snapshot and left paused before a task needs them.

A long-running worker asks the pool to keep a VM warm for a (VM shape, snapshot) target (the
one of its last task: the next task likely looks alike). A background thread restores it into
its own QEMU process (run directory, disk overlay and network namespace included), runs the
warm-up it was given, and leaves its vCPUs stopped, while the host budget has room. An
analysis whose VM shape and snapshot match takes it: its power-on is a ``cont``, so dequeue to
sample running is the agent handshake, the clock, the upload and the exec. A warm VM serves
one sample and is never returned; one whose snapshot was replaced after it was restored, or
whose QEMU died, is discarded. ``close()`` (and the worker's death: QEMU dies with the pool's
thread through PR_SET_PDEATHSIG) leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aasee.contexts.qemu_config import ContextError, QemuConfig
from aasee.contexts.qemu_process import QemuProcessContext
from aasee.contexts.snapshots import Snapshot

__all__ = ["WarmPool", "WarmTarget", "active_pool", "set_active_pool"]

log = logging.getLogger(__name__)

REFILL_DELAY_SECONDS = 3.0
"""A refill waits this long after a take: the taker's sample start gets the CPU first."""
REFILL_RETRY_SECONDS = 5.0
"""After a failed restore (or no room in the budget), the pool waits this long to try again."""
CHECK_SECONDS = 2.0
"""How often the pool looks for stale or dead warm VMs when nothing else wakes it."""


def snapshot_stamp(snapshot: Snapshot) -> tuple[int, int, int] | None:
    """What identifies the saved state on disk: a new snapshot in the same place differs."""
    try:
        info = os.stat(snapshot.state)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class WarmTarget:
    """What to keep warm: a VM shape and the ready snapshot it restores."""

    config: QemuConfig
    snapshot: Snapshot

    def matches(self, config: QemuConfig, snapshot: Snapshot) -> bool:
        return self.config == config and self.snapshot.directory == snapshot.directory


@dataclass
class _WarmVM:
    context: QemuProcessContext
    target: WarmTarget
    stamp: tuple[int, int, int] | None
    restored_at: float = field(default_factory=time.monotonic)

    def usable(self) -> bool:
        return (
            self.context.is_running()
            and self.stamp is not None
            and snapshot_stamp(self.target.snapshot) == self.stamp
        )


Admit = Callable[[QemuConfig], bool]


class WarmPool:
    """Keeps up to ``size`` VMs per target restored and paused, refilled in the background.

    ``admit(config)`` says whether the host has room for one more VM of that shape now (the
    pool never pushes the host past its budget); by default there is always room.
    ``warm_up(agent_socket)`` runs once in each restored guest before it is paused (the
    layer that speaks to the agent provides it).
    """

    def __init__(
        self,
        size: int = 1,
        admit: Admit | None = None,
        warm_up: Callable[[Path], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a warm pool holds at least one VM")
        self.size = size
        self._admit = admit or (lambda _config: True)
        self._warm_up = warm_up
        self._targets: list[WarmTarget] = []
        self._warm: list[_WarmVM] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._refill_after = 0.0
        self._restoring: QemuProcessContext | None = None
        self.restores = 0
        self.discarded = 0
        self.taken = 0

    # --- what to keep warm ------------------------------------------------------------------
    def keep_warm(self, target: WarmTarget) -> None:
        """From now on keep VMs warm for ``target`` (only: warm VMs of another target are
        discarded), and start the refill thread if it is not running."""
        with self._lock:
            self._targets = [target]
            if self._thread is None:
                # QEMU dies with the thread that started it: this one lives as long as the pool.
                self._thread = threading.Thread(target=self._run, name="warm-pool", daemon=True)
                self._thread.start()
        self._wake.set()

    def warm_count(self) -> int:
        with self._lock:
            return len(self._warm)

    # --- taking -----------------------------------------------------------------------------
    def take(self, config: QemuConfig, snapshot: Snapshot) -> QemuProcessContext | None:
        """A warm VM of this shape and snapshot, now the caller's alone; None if there is none."""
        chosen: _WarmVM | None = None
        stale: list[_WarmVM] = []
        with self._lock:
            for vm in list(self._warm):
                if not vm.target.matches(config, snapshot):
                    continue
                self._warm.remove(vm)
                if vm.usable():
                    chosen = vm
                    break
                stale.append(vm)
            if chosen is not None:
                self.taken += 1
                self._refill_after = time.monotonic() + REFILL_DELAY_SECONDS
        for vm in stale:
            self._discard(vm, "its snapshot changed or its QEMU died")
        self._wake.set()
        if chosen is None:
            return None
        waited = time.monotonic() - chosen.restored_at
        log.info("warm VM %s taken (restored %.1f s ago)", chosen.context.identifier, waited)
        return chosen.context

    # --- the refill thread ------------------------------------------------------------------
    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.clear()
            delay = self._refill_after - time.monotonic()
            if delay > 0:
                self._closing.wait(delay)
                continue
            retry = False
            try:
                self._drop_stale()
                retry = self._refill()
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                log.exception("warm pool refill failed")
                retry = True
            self._wake.wait(REFILL_RETRY_SECONDS if retry else CHECK_SECONDS)
        self._discard_all()

    def _drop_stale(self) -> None:
        with self._lock:
            stale = [vm for vm in self._warm if not vm.usable()]
            unwanted = [vm for vm in self._warm if vm.target not in self._targets]
            for vm in [*stale, *unwanted]:
                if vm in self._warm:
                    self._warm.remove(vm)
        for vm in stale:
            self._discard(vm, "its snapshot changed or its QEMU died")
        for vm in unwanted:
            if vm not in stale:
                self._discard(vm, "the pool now keeps another VM shape warm")

    def _refill(self) -> bool:
        """Restore what is missing; True when something could not be restored (retry later)."""
        with self._lock:
            targets = list(self._targets)
        for target in targets:
            while not self._closing.is_set():
                with self._lock:
                    have = sum(1 for vm in self._warm if vm.target == target)
                if have >= self.size:
                    break
                if not self._admit(target.config):
                    return True
                vm = self._restore(target)
                if vm is None:
                    return True
                with self._lock:
                    if self._closing.is_set():
                        closing = vm
                    else:
                        self._warm.append(vm)
                        closing = None
                if closing is not None:
                    self._discard(closing, "the pool is closing")
        return False

    def _restore(self, target: WarmTarget) -> _WarmVM | None:
        stamp = snapshot_stamp(target.snapshot)
        if stamp is None:
            log.warning("warm pool: snapshot %s is gone", target.snapshot.directory)
            return None
        # A plain UUID: QEMU takes the identifier as the machine UUID.
        identifier = str(uuid.uuid4())
        try:
            context = self._restoring = QemuProcessContext(
                identifier,
                target.config,
                disk_base=target.snapshot.disk,
                state_file=target.snapshot.state,
                trace_seal=target.snapshot.trace_seal,
            )
        except ContextError as exc:
            log.warning("warm pool: cannot prepare a VM: %s", exc)
            return None
        try:
            seconds = context.restore_ahead(self._warm_up)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the VM must not be left
            log.warning("warm pool: restore failed: %s", exc)
            context.cleanup()
            return None
        finally:
            self._restoring = None
        self.restores += 1
        log.info("warm VM %s restored and paused in %.2f s", identifier, seconds)
        return _WarmVM(context, target, stamp)

    def _discard(self, vm: _WarmVM, why: str) -> None:
        self.discarded += 1
        log.info("warm VM %s discarded: %s", vm.context.identifier, why)
        vm.context.cleanup()

    def _discard_all(self) -> None:
        with self._lock:
            warm, self._warm = self._warm, []
        for vm in warm:
            self._discard(vm, "the pool closed")

    def close(self, timeout: float = 30.0) -> None:
        """Stop refilling and remove every warm VM (waits for a restore in progress)."""
        self._closing.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            restoring = self._restoring
            if thread.is_alive() and restoring is not None:
                # A restore that hangs (a QEMU stuck loading its state) must not outlive
                # the pool: its process is killed under it, which ends the restore.
                log.warning("warm pool: killing the VM %s still restoring", restoring.identifier)
                restoring.cleanup()
                thread.join(timeout)
        self._discard_all()

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_ACTIVE: WarmPool | None = None


def set_active_pool(pool: WarmPool | None) -> None:
    """Make ``pool`` the one this process's sandboxes take warm VMs from (None: no pool)."""
    global _ACTIVE
    _ACTIVE = pool


def active_pool() -> WarmPool | None:
    return _ACTIVE


def runs_of(pool: WarmPool) -> list[Path]:
    """The run directories of the pool's warm VMs (for tests and diagnostics)."""
    with pool._lock:
        return [vm.context.run_dir for vm in pool._warm]
