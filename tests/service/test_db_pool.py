"""Pooled database connections on SQLite and PostgreSQL: reused between sessions (a request
no longer opens a connection of its own), and never shared with a forked child."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aasee.service.db import Database, upgrade

from .servers import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/pool.db"
        upgrade(url)
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.migrated_database()
    db = Database(url)
    yield db
    db.dispose()


def _connection_info(db: Database) -> dict[str, object]:
    with db.read() as session:
        session.execute(text("SELECT 1"))
        info: dict[str, object] = session.connection().connection.info
        return info


def test_sessions_reuse_a_pooled_connection(database: Database) -> None:
    first = _connection_info(database)
    second = _connection_info(database)
    assert first is second  # the same pooled connection record, not a new connection
    assert first["pid"] == os.getpid()


def test_a_forked_child_opens_its_own_connection(database: Database) -> None:
    parent = _connection_info(database)
    child = os.fork()
    if child == 0:
        try:
            info = _connection_info(database)
            with database.write() as session:
                session.execute(text("SELECT 1"))
            # "pid" is written when a connection is opened: opened here, in the child.
            os._exit(0 if info["pid"] == os.getpid() else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection survived the child (it was dropped there, not closed).
    assert _connection_info(database) is parent and parent["pid"] == os.getpid()
