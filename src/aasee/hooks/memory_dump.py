"""Memory dumps of the guest at chosen events: an ELF core of its physical memory, gzipped.

At each configured event QEMU writes the guest's memory through QMP ``dump-guest-memory``
(``paging: false``, format ``elf``: an ELF core file with one ``PT_LOAD`` segment per RAM
block, which gdb, ``readelf`` and volatility-style tools open) into the run directory; the hook
then compresses it with gzip into ``memory/<n>-<event>.elf.gz`` in the results and deletes the
raw file. A context whose QMP goes through libvirt dumps through libvirt's own API instead (a
memory-only core dump: the same QEMU command, run as a libvirt job), since libvirtd does not
survive the completion event of a dump it did not start. ``memory/manifest.json`` lists each
dump (event, time, sizes, SHA-256, seconds taken) and, for a run restored from a ready
snapshot, that snapshot's saved memory state: the clean guest's memory, which processing uses
as the baseline of what memory holds before any sample.

The dump itself stops the guest for about a second per GiB (measured under TCG: 1 GiB in
0.9 s); compressing it takes about 3 s per GiB at level 1, done in the hook's own thread
while the run goes on. Dumps are serialised; the VM is never powered off before the dumps
asked for have been written (compression may finish after the VM is gone).
"""

from __future__ import annotations

import gzip
import hashlib
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._evidence import configured_events, file_safe, write_manifest
from aasee.hooks._util import context_attr, results_dir

__all__ = ["DUMP_DIR", "FORMAT_VERSION", "MANIFEST", "MemoryDumpHook", "elf_core_type"]

DUMP_DIR = "memory"
MANIFEST = f"{DUMP_DIR}/manifest.json"
FORMAT_VERSION = 1
DEFAULT_EVENTS = ("pre_poweroff",)
# The VM is not running at these: nothing to dump.
REFUSED_EVENTS = ("pre_poweron", "post_poweroff", "post_shutdown")
# The VM is about to go: the dump must be written before the handler returns.
FINAL_EVENTS = frozenset({"pre_poweroff", "pre_shutdown", "pre_restart"})
ET_CORE = 4
CHUNK = 1 << 20


def elf_core_type(head: bytes) -> str | None:
    """``"core"`` when ``head`` starts an ELF core file, the ELF type number otherwise, None
    if it is no ELF at all."""
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return None
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    return "core" if e_type == ET_CORE else f"type {e_type}"


@dataclass
class _Job:
    sequence: int
    event: str
    time: float
    dumped: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0
    """How long QEMU took to write the dump."""


class MemoryDumpHook(Hook):
    """configuration: ``results_dir``; ``events`` (default ``["pre_poweroff"]``): the events at
    which memory is dumped; ``compress_level`` (gzip, 1-9, default 1); ``dump_timeout``
    (seconds for QEMU to write one dump, default 300); ``max_dumps`` (default 4).
    """

    requires: ClassVar[frozenset[str]] = frozenset({"qmp", "run_dir"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.events = configured_events(self, DEFAULT_EVENTS, refused=REFUSED_EVENTS)
        self.level = int(self.configuration.get("compress_level", 1))
        if not 1 <= self.level <= 9:
            raise ValueError(f"'compress_level' is a gzip level, 1 to 9, not {self.level}")
        self.timeout = float(self.configuration.get("dump_timeout", 300))
        self.max_dumps = int(self.configuration.get("max_dumps", 4))
        self.dumps: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.RLock()
        self._requested = 0
        self._last: _Job | None = None
        self._worker: threading.Thread | None = None
        self._vm_gone = threading.Event()
        # Read now: a restart boots afresh and forgets it.
        state = getattr(self.context, "state_file", None)
        self.baseline = str(state) if state is not None and Path(state).is_file() else None
        for name in self.events:
            self.context.subscribe(name, self._on_event)
        for name in FINAL_EVENTS:
            # Dumps still being written when the VM is about to go are waited for.
            self.context.subscribe(name, self._before_vm_goes)
        self.context.subscribe("post_poweroff", self._vm_went)
        self.context.subscribe("post_shutdown", self._vm_went)

    # --- events -----------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            if self._vm_gone.is_set():
                return
            if self._requested >= self.max_dumps:
                self._error(f"no dump at {event.name}: already {self.max_dumps} (max_dumps)")
                return
            self._requested += 1
            job = _Job(self._requested, event.name, time.time())
            self._last = job
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="aasee-memory-dump", daemon=True
                )
                self._worker.start()
            self._jobs.put(job)
        self.logger.info("memory dump %d requested at %s", job.sequence, event.name)

    def _before_vm_goes(self, event: Event) -> None:
        # Runs after _on_event for a final event of the configuration (subscribed later).
        last = self._last
        if last is not None and not last.dumped.wait(self.timeout * max(1, self._jobs.qsize())):
            self._error(f"the dump at {last.event} was not written before {event.name}")

    def _vm_went(self, event: Event) -> None:
        self._vm_gone.set()

    # --- work -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                raw = self._dump(job)
            except Exception as exc:
                self._error(f"memory dump at {job.event} failed: {exc}")
                raw = None
            finally:
                job.dumped.set()
            if raw is not None:
                try:
                    self._compress(job, raw)
                except Exception as exc:
                    self._error(f"memory dump at {job.event} not kept: {exc}")
                finally:
                    raw.unlink(missing_ok=True)
            self._write_manifest()

    def _dump(self, job: _Job) -> Path | None:
        if self._vm_gone.is_set():
            self._error(f"no dump at {job.event}: the VM was already off")
            return None
        run_dir = Path(context_attr(self, "run_dir"))
        raw = run_dir / f"memory-{job.sequence}.elf"
        self._check_space(run_dir)
        start = time.monotonic()
        dump_memory = getattr(self.context, "dump_memory", None)
        if callable(dump_memory):
            # A context whose QMP is not its own (libvirt's) dumps through its own API.
            dump_memory(raw)
        else:
            self._dump_through_qmp(raw, start)
        seconds = time.monotonic() - start
        self.logger.info("memory dump %d at %s written in %.2f s", job.sequence, job.event, seconds)
        job.seconds = seconds
        return raw

    def _dump_through_qmp(self, raw: Path, start: float) -> None:
        qmp = context_attr(self, "qmp")
        qmp(
            "dump-guest-memory",
            paging=False,
            protocol=f"file:{raw}",
            detach=True,
            format="elf",
        )
        deadline = start + self.timeout
        while True:
            status = qmp("query-dump")
            state = status.get("status") if isinstance(status, dict) else None
            if state == "completed":
                break
            if state == "failed":
                raise RuntimeError("QEMU reported the dump as failed")
            if time.monotonic() > deadline:
                raise RuntimeError(f"QEMU did not finish the dump within {self.timeout:g} s")
            time.sleep(0.05)

    def _check_space(self, run_dir: Path) -> None:
        config = getattr(self.context, "config", None)
        memory_mib = getattr(config, "memory_mib", None)
        if isinstance(memory_mib, int):
            free = shutil.disk_usage(run_dir).free
            needed = (memory_mib << 20) + (64 << 20)
            if free < needed:
                raise RuntimeError(
                    f"{free >> 20} MiB free next to the VM, the dump needs {needed >> 20} MiB"
                )

    def _compress(self, job: _Job, raw: Path) -> None:
        out_dir = results_dir(self) / DUMP_DIR
        out_dir.mkdir(exist_ok=True)
        name = f"{job.sequence}-{file_safe(job.event)}.elf.gz"
        target = out_dir / name
        start = time.monotonic()
        digest = hashlib.sha256()
        raw_bytes = 0
        with raw.open("rb") as source:
            head = source.read(64)
            source.seek(0)
            with target.open("wb") as sink:
                hashing = _Hashing(sink, digest)
                with gzip.GzipFile(
                    filename=f"memory-{job.sequence}.elf",
                    mode="wb",
                    compresslevel=self.level,
                    fileobj=hashing,
                    mtime=int(job.time),
                ) as compressed:
                    while chunk := source.read(CHUNK):
                        compressed.write(chunk)
                        raw_bytes += len(chunk)
        compress_seconds = time.monotonic() - start
        stored = target.stat().st_size
        record: dict[str, Any] = {
            "file": f"{DUMP_DIR}/{name}",
            "event": job.event,
            "time": round(job.time, 3),
            "format": "elf",
            "elf_type": elf_core_type(head),
            "compression": "gzip",
            "raw_bytes": raw_bytes,
            "bytes": stored,
            "sha256": digest.hexdigest(),
            "dump_seconds": round(job.seconds, 3),
            "compress_seconds": round(compress_seconds, 3),
        }
        with self._lock:
            self.dumps.append(record)
        self.logger.info(
            "memory dump %d: %d MiB, %d MiB gzipped in %.1f s",
            job.sequence,
            raw_bytes >> 20,
            stored >> 20,
            compress_seconds,
        )
        self.context.trigger("artifact", name=record["file"], size=stored, truncated=False)

    def _error(self, message: str) -> None:
        self.logger.warning("%s", message)
        with self._lock:
            self.errors.append(message)

    def _write_manifest(self) -> None:
        with self._lock:
            document = {
                "version": FORMAT_VERSION,
                "events": list(self.events),
                "baseline_state": self.baseline,
                "dumps": list(self.dumps),
                "errors": list(self.errors),
            }
        try:
            folder = results_dir(self) / DUMP_DIR
            folder.mkdir(exist_ok=True)
            write_manifest(folder / "manifest.json", document)
        except OSError as exc:
            self.logger.error("memory dump manifest not written: %s", exc)

    def cleanup(self) -> None:
        worker = self._worker
        if worker is None:
            if self.errors:
                self._write_manifest()
            return
        self._jobs.put(None)
        # Compression of what was dumped finishes here, before the run directory goes.
        worker.join(self.timeout * 2)
        if worker.is_alive():
            self._error("memory dumps still being written when the run ended")
            self._write_manifest()


class _Hashing:
    """A write-only file object that hashes what goes through it."""

    def __init__(self, sink: Any, digest: Any) -> None:
        self.sink = sink
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return int(self.sink.write(data))

    def flush(self) -> None:
        self.sink.flush()
