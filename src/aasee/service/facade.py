"""``TaskService``: everything the web app and API do with the service, in one thin class.

It validates what users send (options, uploads, names, paging), stores samples, creates task
rows and queues them, and reads tasks, reports and artefacts back. The work itself happens in
the workers (``worker.py``, ``postprocess.py``); state changes go through ``lifecycle``.

A submission asking for a guest image that neither this host (``{home}/images``) nor any live
sandbox worker has fails at once with a reason; so does one asking for a sandbox kind that no
live sandbox worker offers (while any is alive: see ``fleet``). So tests that need tasks to
stay ``pending`` keep ``home`` where images are built (``/var/lib/aasee``) and point
``database_url``, ``queue_url`` and ``storage_url`` at temporary folders instead.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from statistics import mean, median
from typing import Any, Generic, Literal, TypeVar

import pyzipper  # type: ignore[import-untyped]
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import false, func, select
from sqlalchemy.exc import SQLAlchemyError

from aasee.arch import route_elf
from aasee.images.store import ImageError, list_images
from aasee.processing.report import PART_NAME, part_path
from aasee.processing.signatures.models import VERDICTS
from aasee.service import lifecycle, tokens
from aasee.service.db import Database, DatabaseError, ensure_schema, storable
from aasee.service.fleet import Capabilities, arches_of, sandboxes_of
from aasee.service.lifecycle import STATUSES, TaskStatus
from aasee.service.models import Task, TaskNumber, WorkerHeartbeat, utcnow
from aasee.service.options import AnalysisOptions
from aasee.service.queue import QueueError, Queues
from aasee.service.routing import Routed, RoutingError, route_sample
from aasee.service.settings import Settings
from aasee.service.storage import ObjectMissing, Storage, StorageError, task_prefix

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PAGE = 200
MAX_FILENAME_BYTES = 255
MAX_REPORT_BYTES = 512 << 20
# Download name -> stored raw artefact.
ARTEFACTS: dict[str, str] = {
    "pcap": "network.pcap",
    "trace": "trace.log",
    "console": "console.log",
    "fakenet": "fakenet.jsonl",
    "stdout": "stdout.txt",
    "stderr": "stderr.txt",
    "log": "analysis.log",
    "run": "run.json",
    "memory": "memory.tar",  # memory/: the dumps (ELF cores, gzipped) and their manifest
    "dropped": "dropped.tar",
    "screenshots": "screenshots.tar",
    "disk_diff": "disk_diff.json",
    "sample": "sample.bin",
}
ZIPPED = {"dropped", "screenshots", "memory", "sample"}


SubmitOptions = AnalysisOptions
"""What a submission may ask for: the one options model of every front end."""


class TaskView(BaseModel):
    id: str
    number: int | None = None
    """The task's integer id, for clients that need one (the Cuckoo/CAPE-compatible API)."""
    sha256: str
    sha1: str = ""
    md5: str = ""
    filename: str
    size: int
    status: TaskStatus
    substatus: str | None
    reason: str | None
    options: SubmitOptions
    created: datetime
    started: datetime | None
    finished: datetime | None
    attempts: int
    worker: str | None
    verdict: str | None
    score: float | None
    arch: str | None = None
    """Architecture of the guest the task runs in."""
    sample_arch: str | None = None
    """The sample's architecture, as read from its header."""
    progress: float | None
    reused: bool = False
    artefacts: list[str] = Field(default_factory=list)  # keys of ARTEFACTS stored for the task


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def sanitize_filename(name: str) -> str:
    """A display name from a submitted file name: its last component, printable, bounded."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if c.isprintable() and c not in "\t\r\n").strip()
    while base.startswith("."):
        base = base[1:]
    encoded = base.encode()[:MAX_FILENAME_BYTES]
    base = encoded.decode(errors="ignore").strip()
    return base or "sample"


def _sample_arch(data: bytes) -> str:
    return route_elf(data[:64]).label


def _options_key(options: SubmitOptions) -> str:
    canonical = json.dumps(options.model_dump(exclude={"priority"}), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _view(task: Task, reused: bool = False) -> TaskView:
    stored = set(task.artefacts or []) | {"sample.bin"}
    return TaskView(
        id=task.id,
        number=task.number,
        sha256=task.sha256,
        sha1=task.sha1,
        md5=task.md5,
        filename=task.filename,
        size=task.size,
        status=task.status,  # type: ignore[arg-type]
        substatus=task.substatus,
        reason=task.reason,
        options=SubmitOptions.model_validate(task.options),
        created=task.created,
        started=task.started,
        finished=task.finished,
        attempts=task.attempts,
        worker=task.worker,
        verdict=task.verdict,
        score=task.score,
        arch=task.arch,
        sample_arch=task.sample_arch,
        progress=task.progress,
        reused=reused,
        artefacts=[key for key, name in ARTEFACTS.items() if name in stored],
    )


class WorkerView(BaseModel):
    """One worker process of the service, as ``GET /api/v1/workers`` and the Workers page
    show it (``fleet.Capabilities`` flattened)."""

    name: str
    kind: str
    """sandbox or postprocess."""
    host: str
    pid: int
    task_id: str | None
    """The task it is working on, if any."""
    task_number: int | None = None
    images: list[str] = Field(default_factory=list)
    """Guest images as ``name:arch``."""
    arches: list[str] = Field(default_factory=list)
    sandboxes: list[str] = Field(default_factory=list)
    """The sandbox kinds it takes tasks for."""
    unavailable: dict[str, str] = Field(default_factory=dict)
    """Kinds its host cannot run, and why."""
    free_slots: int | None = None
    """VMs more its host had room for at its last heartbeat."""
    vm_limit: int | None = None
    warm_vms: int = 0
    cpus: int | None = None
    load: list[float] = Field(default_factory=list)
    """Its host's load average (1, 5, 15 minutes)."""
    memory_total_mib: int | None = None
    memory_available_mib: int | None = None
    version: str | None = None
    started: datetime
    seen: datetime
    """Its last heartbeat."""
    seconds_since_seen: float
    alive: bool
    """False once silent for longer than ``stale_after_seconds``."""


def _worker_view(
    row: WorkerHeartbeat, now: datetime, stale_after: float, numbers: dict[str, int | None]
) -> WorkerView:
    raw = row.capabilities if isinstance(row.capabilities, dict) else None
    try:
        caps = Capabilities.model_validate(raw or {})
    except ValidationError:
        log.warning("worker %s reported unreadable capabilities", row.name)
        caps = Capabilities()
    images = [str(entry) for entry in row.images or []]
    silence = max(0.0, (now - row.seen).total_seconds())
    if raw is not None:
        sandboxes = caps.sandboxes
    else:
        # A worker of an older version: it runs the default kind, its host is not known.
        sandboxes = sandboxes_of(None) if row.kind == "sandbox" else []
    return WorkerView(
        name=row.name,
        kind=row.kind,
        host=row.host,
        pid=row.pid,
        task_id=row.task_id,
        task_number=numbers.get(row.task_id) if row.task_id else None,
        images=images,
        arches=caps.arches or arches_of(images),
        sandboxes=sandboxes,
        unavailable=caps.unavailable,
        free_slots=caps.free_slots,
        vm_limit=caps.vm_limit,
        warm_vms=caps.warm_vms,
        cpus=caps.host.cpus if raw is not None else None,
        load=caps.host.load,
        memory_total_mib=caps.host.memory_total_mib,
        memory_available_mib=caps.host.memory_available_mib,
        version=caps.version if raw is not None else None,
        started=row.started,
        seen=row.seen,
        seconds_since_seen=round(silence, 1),
        alive=silence <= stale_after,
    )


def _zip(members: Iterator[tuple[str, bytes]], password: str) -> Iterator[bytes]:
    """An AES-encrypted zip of the members, built in a spool file, streamed in chunks."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed by stream
    with pyzipper.AESZipFile(
        spool, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        for name, data in members:
            archive.writestr(name, data)
    spool.seek(0)

    def stream() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(1 << 20):
                yield chunk

    return stream()


def _safe_member(name: str) -> str:
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "..", "/")]
    return "/".join(sanitize_filename(p) for p in parts) or "file"


class TaskService:
    """The service as the web app and API see it."""

    def __init__(self, settings: Settings, *, prepare_schema: bool = True) -> None:
        """``prepare_schema``: upgrade an embedded SQLite database (server databases are only
        checked); raises ``DatabaseError`` if the schema is not usable."""
        self.settings = settings
        self.db = Database(settings.database_url)
        if prepare_schema:
            ensure_schema(self.db)
        self.storage = Storage.from_url(settings.storage_url)
        self.queues = Queues(settings.queue_url)

    def close(self) -> None:
        self.db.dispose()

    # --- submission -----------------------------------------------------------------------

    def submit(
        self, data: bytes, filename: str, options: SubmitOptions, *, force: bool = False
    ) -> TaskView:
        settings = self.settings
        if not data:
            raise ValueError("the uploaded file is empty: there is nothing to analyse")
        if len(data) > settings.max_upload_bytes:
            raise ValueError(
                f"the uploaded file ({len(data)} bytes) exceeds the limit of "
                f"{settings.max_upload_bytes} bytes"
            )
        given = options.model_dump(exclude_unset=True)
        options = SubmitOptions.model_validate(
            {"timeout": settings.default_timeout, "sandbox": settings.default_sandbox, **given}
        )
        if options.sandbox not in settings.sandboxes:
            raise ValueError(
                f"sandbox {options.sandbox!r} is not offered by this service (it offers "
                f"{', '.join(settings.sandboxes)}; an administrator sets them with sandboxes "
                "in the settings file)"
            )
        if options.timeout > settings.max_timeout:
            raise ValueError(
                f"timeout {options.timeout:g} s exceeds this service's maximum of "
                f"{settings.max_timeout:g} s"
            )
        if options.network == "internet" and not settings.internet_enabled:
            raise ValueError(
                "network mode 'internet' is disabled on this service: an administrator can "
                "enable it with internet_enabled in the settings file"
            )
        name = sanitize_filename(filename)
        sha256 = hashlib.sha256(data).hexdigest()
        available = lifecycle.available_images(self.db, settings)
        try:
            routed: Routed | None = route_sample(data, options.image, available.items())
            missing = None
        except RoutingError as exc:
            routed, missing = None, str(exc)
        if routed is not None:
            # The chosen guest is part of the task: the queue, the worker and a rerun use it.
            options = options.model_copy(update={"image": routed.image})
            missing = lifecycle.no_sandbox_reason(
                options.sandbox, lifecycle.available_sandboxes(self.db, settings)
            )
        key = _options_key(options)
        if not force:
            with self.db.read() as session:
                existing = session.scalar(
                    select(Task)
                    .where(Task.sha256 == sha256, Task.options_key == key, Task.status != "failed")
                    .order_by(Task.created.desc())
                    .limit(1)
                )
                if existing is not None:
                    return _view(existing, reused=True)
        task_id = str(uuid.uuid4())
        self.storage.put_bytes(f"{task_prefix(task_id)}/sample.bin", data)
        now = utcnow()
        task = Task(
            id=task_id,
            sha256=sha256,
            sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324 - an identifier, not security
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324
            filename=name,
            size=len(data),
            options=options.model_dump(),
            options_key=key,
            priority=options.priority,
            status="failed" if missing else "pending",
            substatus=None if missing else "queued",
            reason=missing,
            attempts=0,
            postprocess_attempts=0,
            created=now,
            finished=now if missing else None,
            enqueued=None if missing else now,
            arch=routed.profile.name if routed else None,
            sample_arch=(routed.sample_arch if routed else _sample_arch(data))[:200],
        )
        try:
            with self.db.write() as session:
                allocated = TaskNumber(task_id=task_id)
                session.add(allocated)
                session.flush()
                task.number = allocated.number
                session.add(task)
        except BaseException:
            # No row, no object: an upload that failed leaves nothing behind.
            self.storage.delete_prefix(task_prefix(task_id))
            raise
        if not missing:
            assert options.image is not None
            try:
                self.queues.analysis(options.image, options.sandbox).enqueue(
                    task_id, options.priority
                )
            except QueueError as exc:
                # The task is safe in the database; the reaper sends it once the queue is back.
                log.warning("task %s stored but not queued yet: %s", task_id, exc)
        return _view(task)

    # --- reading --------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskView | None:
        if not storable(task_id):
            return None
        with self.db.read() as session:
            task = session.get(Task, task_id)
            return None if task is None else _view(task)

    def get_by_number(self, number: int) -> TaskView | None:
        """The task with this integer number (``TaskView.number``), if it still exists."""
        if not 0 < number < 1 << 31:  # the column is a 32-bit INTEGER
            return None
        with self.db.read() as session:
            task = session.scalar(select(Task).where(Task.number == number))
            return None if task is None else _view(task)

    def list(
        self,
        *,
        status: str | None = None,
        verdict: str | None = None,
        sha256: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[TaskView]:
        if offset < 0:
            raise ValueError("offset must be 0 or more")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        limit = min(limit, MAX_PAGE)
        query = select(Task)
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
            query = query.where(Task.status == status)
        if verdict is not None:
            if verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
            query = query.where(Task.verdict == verdict)
        if sha256 is not None:
            query = query.where(Task.sha256 == _hex(sha256, 64))
        if name:
            escaped = name[:255].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Task.filename.ilike(f"%{escaped}%", escape="\\"))
            if not storable(name):
                query = query.where(false())  # no stored name holds a NUL
        for bound in (since, until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("since/until must carry a time zone (UTC recommended)")
        if since is not None:
            query = query.where(Task.created >= since)
        if until is not None:
            query = query.where(Task.created <= until)
        with self.db.read() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Task.created.desc(), Task.id).offset(offset).limit(limit)
            ).all()
            return Page[TaskView](
                items=[_view(r) for r in rows], total=total, offset=offset, limit=limit
            )

    def find_by_hash(self, digest: str) -> builtins.list[TaskView]:
        digest = digest.strip().lower()
        columns = {32: Task.md5, 40: Task.sha1, 64: Task.sha256}
        column = columns.get(len(digest))
        if column is None:
            raise ValueError("a hash is an MD5 (32), SHA-1 (40) or SHA-256 (64) hex digest")
        _hex(digest, len(digest))
        with self.db.read() as session:
            rows = session.scalars(
                select(Task).where(column == digest).order_by(Task.created.desc()).limit(MAX_PAGE)
            ).all()
            return [_view(r) for r in rows]

    # --- changes --------------------------------------------------------------------------

    def delete(self, task_id: str) -> bool:
        if not storable(task_id):
            return False
        with self.db.read() as session:
            if session.get(Task, task_id) is None:
                return False
        self.storage.delete_prefix(task_prefix(task_id))
        with self.db.write() as session:
            task = session.get(Task, task_id)
            if task is None:
                return False
            # A worker still running it notices the row is gone at its next update and stops.
            session.delete(task)
        return True

    def reprocess(self, task_id: str) -> TaskView:
        """Queue postprocessing again; KeyError if no such task, ValueError if not finished."""
        task = lifecycle.request_reprocess(self.db, task_id)
        try:
            self.queues.postprocess.enqueue(task_id, task.priority)
        except QueueError as exc:
            log.warning("task %s not queued for postprocessing yet: %s", task_id, exc)
        return _view(task)

    # --- results --------------------------------------------------------------------------

    def report(self, task_id: str, kind: Literal["json", "html"]) -> bytes | None:
        if kind not in ("json", "html"):
            raise ValueError("report kind is json or html")
        if self.get(task_id) is None:
            return None
        try:
            return self.storage.get_bytes(f"{task_prefix(task_id)}/report.{kind}", MAX_REPORT_BYTES)
        except ObjectMissing:
            return None

    def report_part(self, task_id: str, name: str) -> Iterator[bytes] | None:
        """The file holding the whole of report list ``name`` (``files.written``: JSON Lines),
        for a list the report shows only the start of; None if the task has none such."""
        if PART_NAME.fullmatch(name) is None:
            raise ValueError(f"not a report list: {name!r}")
        if self.get(task_id) is None:
            return None
        try:
            return self.storage.chunks(f"{task_prefix(task_id)}/{part_path(name)}")
        except ObjectMissing:
            return None

    def artefact(self, task_id: str, name: str) -> tuple[str, Iterator[bytes]] | None:
        """(download file name, chunks) of one of ``ARTEFACTS``; None if absent."""
        stored = ARTEFACTS.get(name)
        if stored is None:
            raise ValueError(f"unknown artefact {name!r}; one of {', '.join(ARTEFACTS)}")
        view = self.get(task_id)
        if view is None:
            return None
        prefix = task_prefix(task_id)
        key = f"{prefix}/sample.bin" if name == "sample" else f"{prefix}/raw/{stored}"
        short = task_id[:8]
        password = self.settings.zip_password
        try:
            if name == "sample":
                data = self.storage.get_bytes(key, self.settings.max_upload_bytes)
                return f"{short}-sample.zip", _zip(iter([(view.filename, data)]), password)
            if name in ZIPPED:
                members = (
                    (_safe_member(member), data) for member, data in self.storage.tar_members(key)
                )
                return f"{short}-{name}.zip", _zip(members, password)
            return f"{short}-{stored}", self.storage.chunks(key)
        except ObjectMissing:
            return None

    # --- operations -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            self.db.ping()
            checks["database"] = {"ok": True}
        except DatabaseError as exc:
            checks["database"] = {"ok": False, "error": str(exc)}
        try:
            checks["queue"] = {
                "ok": True,
                "analysis_depth": self._analysis_depth(),
                "postprocess_depth": self.queues.postprocess.depth(),
            }
        except QueueError as exc:
            checks["queue"] = {"ok": False, "error": str(exc)}
        try:
            self.storage.ping()
            checks["storage"] = {"ok": True, "backend": self.storage.description}
        except StorageError as exc:
            checks["storage"] = {"ok": False, "error": str(exc)}
        workers: builtins.list[dict[str, Any]] = []
        if checks["database"]["ok"]:
            horizon = utcnow() - timedelta(seconds=self.settings.stale_after_seconds)
            try:
                with self.db.read() as session:
                    for row in session.scalars(
                        select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)
                    ):
                        workers.append(
                            {
                                "name": row.name,
                                "kind": row.kind,
                                "host": row.host,
                                "pid": row.pid,
                                "task_id": row.task_id,
                                "images": list(row.images or []),
                                "seen": row.seen,
                                "alive": row.seen >= horizon,
                            }
                        )
            except SQLAlchemyError as exc:
                checks["database"] = {"ok": False, "error": str(exc)}
        alive = [w for w in workers if w["alive"]]
        ok = all(check["ok"] for check in checks.values())
        return {
            "status": "ok" if ok and alive else "degraded",
            **checks,
            "workers": workers,
            "workers_alive": {
                kind: sum(1 for w in alive if w["kind"] == kind)
                for kind in ("sandbox", "postprocess")
            },
        }

    def metrics(self) -> dict[str, Any]:
        with self.db.read() as session:
            counts = dict.fromkeys(STATUSES, 0)
            for status, count in session.execute(
                select(Task.status, func.count()).group_by(Task.status)
            ):
                counts[status] = count
            recent = session.execute(
                select(Task.created, Task.started, Task.finished)
                .where(Task.status == "reported")
                .order_by(Task.finished.desc())
                .limit(1000)
            ).all()
        total = [(f - c).total_seconds() for c, s, f in recent if f is not None]
        queued = [(s - c).total_seconds() for c, s, f in recent if s is not None]
        depths: dict[str, int | None] = {}
        for label, depth in (
            ("analysis", self._analysis_depth),
            ("postprocess", self.queues.postprocess.depth),
        ):
            try:
                depths[label] = depth()
            except QueueError:
                depths[label] = None
        return {
            "tasks": counts,
            "total": sum(counts.values()),
            "queue_depth": depths,
            "durations": {
                "submit_to_report_seconds": _summary(total),
                "queue_wait_seconds": _summary(queued),
                "sample_size": len(recent),
            },
        }

    def images(self) -> builtins.list[dict[str, Any]]:
        """Every guest image the service can route to: built here or held by a live worker,
        with its architecture and the workers that have it."""
        found: dict[str, dict[str, Any]] = {}
        try:
            for image in list_images(self.settings.home / "images"):
                found[image.name] = {
                    "name": image.name,
                    "arch": image.profile().name,
                    "os": image.os,
                    "workers": [],
                    "local": True,
                }
        except ImageError as exc:
            log.warning("local guest images unreadable: %s", exc)
        horizon = utcnow() - timedelta(seconds=self.settings.stale_after_seconds)
        with self.db.read() as session:
            for row in session.scalars(
                select(WorkerHeartbeat).where(
                    WorkerHeartbeat.kind == "sandbox", WorkerHeartbeat.seen >= horizon
                )
            ):
                for entry in row.images or []:
                    name, _, arch = str(entry).partition(":")
                    item = found.setdefault(
                        name,
                        {"name": name, "arch": arch, "os": None, "workers": [], "local": False},
                    )
                    item["workers"].append(row.name)
        return sorted(found.values(), key=lambda item: str(item["name"]))

    def _analysis_depth(self) -> int:
        """Tasks waiting for a sandbox worker, over the queues of every known guest image and
        every sandbox kind a submission may ask for."""
        images = lifecycle.available_images(self.db, self.settings)
        return sum(
            self.queues.analysis(image, kind).depth()
            for image in images
            for kind in self.settings.sandboxes
        )

    def workers(self) -> builtins.list[WorkerView]:
        """Every worker that heartbeated in the last day (the reaper forgets older ones), with
        what it can run, what it is doing and whether it is alive: a worker silent for more
        than ``stale_after_seconds`` is stale (its task, if any, is retried elsewhere)."""
        now = utcnow()
        stale_after = self.settings.stale_after_seconds
        views: builtins.list[WorkerView] = []
        with self.db.read() as session:
            rows = session.scalars(
                select(WorkerHeartbeat).order_by(
                    WorkerHeartbeat.kind.desc(), WorkerHeartbeat.host, WorkerHeartbeat.name
                )
            ).all()
            numbers: dict[str, int | None] = {}
            current = [row.task_id for row in rows if row.task_id and storable(row.task_id)]
            if current:
                for task_id, number in session.execute(
                    select(Task.id, Task.number).where(Task.id.in_(current))
                ):
                    numbers[task_id] = number
            for row in rows:
                views.append(_worker_view(row, now, stale_after, numbers))
        return views

    # --- tokens ---------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        return tokens.create_token(self.db, name)

    def verify_token(self, token: str) -> str | None:
        return tokens.verify_token(self.db, token)

    def revoke_token(self, name: str) -> bool:
        return tokens.revoke_token(self.db, name)

    def token_created(self, name: str) -> datetime | None:
        return tokens.token_created(self.db, name)

    def list_tokens(self) -> builtins.list[dict[str, Any]]:
        return tokens.list_tokens(self.db)


def _hex(value: str, length: int) -> str:
    value = value.strip().lower()
    if len(value) != length or not re.fullmatch(r"[0-9a-f]+", value):
        raise ValueError(f"expected a {length}-character hex digest, got {value[:80]!r}")
    return value


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "max": None}
    return {
        "mean": round(mean(values), 3),
        "median": round(median(values), 3),
        "max": round(max(values), 3),
    }
