"""The service's database tables (SQLAlchemy 2 ORM): tasks, task numbers, API tokens, worker
heartbeats.

The schema itself is created and changed only by the Alembic migrations in
``aasee/service/migrations``; a test checks that they produce exactly these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the service stores only UTC-aware ones")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Task(Base):
    """One submitted sample and the state of its analysis."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    filename: Mapped[str] = mapped_column(String(255), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Identifies "the same analysis" for reuse: a digest of the canonical options.
    options_key: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), index=True)
    substatus: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    postprocess_attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    # The VM run of the current attempt (run directory, QEMU name, network namespace).
    run_id: Mapped[str | None] = mapped_column(String(36))
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict: Mapped[str | None] = mapped_column(String(20), index=True)
    score: Mapped[float | None] = mapped_column(Float)
    artefacts: Mapped[list[str] | None] = mapped_column(JSON)
    arch: Mapped[str | None] = mapped_column(String(20))
    """The architecture of the guest the task runs in (a profile name)."""
    sample_arch: Mapped[str | None] = mapped_column(String(200))
    """The sample's own architecture, as read from its header."""
    number: Mapped[int | None] = mapped_column(Integer, unique=True, index=True)
    """The task's integer id for clients that need one (the Cuckoo/CAPE-compatible API):
    allocated from ``task_numbers`` at submission, never reused."""


class TaskNumber(Base):
    """Allocates task numbers: one row per task ever submitted, kept when the task is deleted,
    so a number is never given to another task."""

    __tablename__ = "task_numbers"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's own form

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)


class Token(Base):
    """An API token: only the SHA-256 of the random secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerHeartbeat(Base):
    """A worker process, what it can do, and when it last said it was alive."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(36))
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the worker reported with its last heartbeat (``fleet.Capabilities``: sandbox
    kinds, architectures, free VM slots, warm VMs, host load); None from older versions."""
