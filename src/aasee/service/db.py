"""Database connections and schema migrations (SQLite or PostgreSQL, by URL).

SQLite is shared by several processes (web, workers, postprocess): it runs in WAL mode with a
busy timeout, and write transactions start with ``BEGIN IMMEDIATE`` so two writers queue up
instead of failing when one upgrades a read lock. PostgreSQL (``postgresql://``, driven by
psycopg 3) locks the rows a transaction changes (``SELECT ... FOR UPDATE``) instead.
Connections are pooled on both; a pooled connection is never used by a forked child (it is
replaced there). The schema is made only by Alembic migrations (``upgrade``); an embedded
SQLite database is upgraded on first use, a server database must be upgraded explicitly with
``aasee db upgrade``.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_MS = 30_000
# The web server runs up to 40 request threads (anyio's default): SQLite connections are cheap
# (a file handle), so each may keep one; a server's are not (PostgreSQL allows 100 by default,
# shared by every process of the service), there threads beyond the pool wait for a connection.
SQLITE_POOL = {"pool_size": 40, "max_overflow": 20}
SERVER_POOL = {"pool_size": 10, "max_overflow": 20}
CONNECT_TIMEOUT_SECONDS = 10
# Taken during `aasee db upgrade` so upgrades started on several hosts run one after the other.
MIGRATION_LOCK_KEY = 0x6161_7365_65  # "aasee"


class DatabaseError(Exception):
    """The database is unreachable or its schema is not the one this version needs."""


def storable(value: str) -> bool:
    """Whether a string can be sent to every backend: PostgreSQL refuses NUL in text, so a
    lookup by a key holding one is answered "no such row" before it reaches the database."""
    return "\x00" not in value


def database_url(url: str) -> URL:
    """The URL as SQLAlchemy will use it: ``postgresql://`` means the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise DatabaseError(
            f"database URL {url!r}: an in-memory SQLite database cannot be shared by the "
            "service's processes; give a file, e.g. sqlite:////var/lib/aasee/service/aasee.db"
        )
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if path is None:
        try:
            engine = create_engine(
                database_url(url),
                pool_pre_ping=True,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
                **SERVER_POOL,
            )
        except ImportError as exc:
            raise DatabaseError(
                f"database URL {make_url(url).render_as_string(hide_password=True)!r} needs a "
                f"driver that is not installed ({exc}); for PostgreSQL install psycopg[binary]"
            ) from exc
        _fork_safe(engine)
        return engine
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **SQLITE_POOL)
    _fork_safe(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is switched off so "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("aasee_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _fork_safe(engine: Engine) -> None:
    """A connection opened before a fork belongs to the parent: a child that finds one in its
    pool drops it (without closing the parent's socket or file) and opens its own."""

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise DisconnectionError("connection inherited across a fork; reconnecting")


class Database:
    """One engine and its sessions: ``read()`` for queries, ``write()`` for changes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=self.engine.execution_options(aasee_write=True), expire_on_commit=False
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed on success, rolled back on any exception."""
        with self._write() as session, session.begin():
            yield session

    def ping(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseError(f"database {self.display_url} unreachable: {exc}") from exc

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = database_url(url).render_as_string(hide_password=False)
    # ConfigParser interpolation would read "%" in a password as a reference.
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the service migrations have no head revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Serialises concurrent upgrades of one SQLite file (several processes start at once);
    a server database is locked inside the migration's transaction instead."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def upgrade(url: str, revision: str = "head") -> str:
    """Run the migrations up to ``revision``; returns the revision the database is now at."""
    with _migration_lock(url):
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Released at commit; a second upgrader then finds the schema up to date.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            now = current_revision(engine)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot migrate the database: {exc}") from exc
        finally:
            engine.dispose()
    log.info("database at revision %s", now)
    return now or ""


def ensure_schema(database: Database) -> None:
    """Upgrade an embedded SQLite database; refuse a server database that is behind."""
    head = head_revision()
    try:
        current = current_revision(database.engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {database.display_url} unreachable: {exc}") from exc
    if current == head:
        return
    if sqlite_path(database.url) is not None:
        upgrade(database.url)
        return
    raise DatabaseError(
        f"database {database.display_url} is at schema revision {current or 'none'}, this "
        f"version needs {head}: run `aasee db upgrade`"
    )
