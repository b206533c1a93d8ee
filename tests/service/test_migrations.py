"""The schema comes from the Alembic migrations and matches the ORM models exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from aasee.service.db import (
    Database,
    DatabaseError,
    current_revision,
    ensure_schema,
    head_revision,
    sqlite_path,
    upgrade,
)
from aasee.service.models import Base


def test_upgrade_empty_database_matches_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert upgrade(url) == head_revision()
    database = Database(url)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(database.engine).get_table_names()) >= {"tasks", "tokens", "workers"}
    database.dispose()


def test_upgrade_is_idempotent_and_wal_is_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/twice.db"
    upgrade(url)
    upgrade(url)
    database = Database(url)
    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    database.dispose()


def test_concurrent_first_use_upgrades_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    errors: list[BaseException] = []

    def first_use() -> None:
        database = Database(url)
        try:
            ensure_schema(database)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    database = Database(url)
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(DatabaseError, match="in-memory"):
        sqlite_path("sqlite://")


def test_unreachable_server_database_is_a_clear_error() -> None:
    # Nothing listens on port 1: a DatabaseError naming the problem, never a hang.
    database = Database("postgresql://user@127.0.0.1:1/aasee")
    try:
        with pytest.raises(DatabaseError, match="unreachable"):
            ensure_schema(database)
    finally:
        database.dispose()


def test_tasks_made_before_numbers_are_numbered_in_submission_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/numbers.db"
    upgrade(url, "0002")
    database = Database(url)
    with database.engine.begin() as connection:
        for task_id, created in (("b", "2024-01-02"), ("a", "2024-01-01"), ("c", "2024-01-03")):
            connection.exec_driver_sql(
                "INSERT INTO tasks (id, sha256, sha1, md5, filename, size, options, options_key,"
                " priority, status, attempts, postprocess_attempts, created) VALUES"
                " (?, 'x', 'x', 'x', 'f', 1, '{}', 'k', 0, 'pending', 0, 0, ?)",
                (task_id, created),
            )
    database.dispose()
    upgrade(url)
    database = Database(url)
    with database.engine.connect() as connection:
        numbered = connection.exec_driver_sql("SELECT id, number FROM tasks ORDER BY id").all()
        allocated = connection.exec_driver_sql("SELECT max(number) FROM task_numbers").scalar()
    assert [tuple(row) for row in numbered] == [("a", 1), ("b", 2), ("c", 3)]
    assert allocated == 3
    database.dispose()
