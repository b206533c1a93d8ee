"""The service on a real PostgreSQL server (a throwaway one, see ``servers.py``), where it
differs from SQLite.

``aasee db upgrade`` builds the schema of an empty database and it matches the ORM models;
upgrades started at once are serialised; PostgreSQL's own rules (time zones, JSON, VARCHAR
lengths, no NUL in text, row locks) are checked. The facade, lifecycle and worker tests
(``test_facade``, ``test_lifecycle``, ``test_workers``) run on both SQLite and PostgreSQL
through their own parametrized ``database_url`` fixture, not here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

from aasee.cli.service_commands import register
from aasee.service import lifecycle
from aasee.service.db import Database, DatabaseError, current_revision, ensure_schema, head_revision
from aasee.service.db import upgrade as upgrade_database
from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.models import Base, Task, utcnow

from .conftest import backend_database_url
from .servers import PostgresServer


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Overrides conftest's: a fresh migrated PostgreSQL database per test."""
    return backend_database_url(request, "postgresql")


@pytest.fixture
def empty_url(postgres: PostgresServer) -> str:
    return postgres.empty_database()


@pytest.fixture
def database(empty_url: str) -> Iterator[Database]:
    db = Database(empty_url)
    yield db
    db.dispose()


def test_db_upgrade_on_an_empty_database_matches_the_models(
    empty_url: str, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AASEE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AASEE_HOME", str(tmp_path / "home"))
    cli = click.Group("aasee")
    register(cli)
    with pytest.raises(DatabaseError, match="run `aasee db upgrade`"):
        ensure_schema(database)  # a server database is never migrated behind one's back
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert connection.dialect.name == "postgresql"
    assert set(inspect(database.engine).get_table_names()) == {
        "alembic_version",
        "task_numbers",
        "tasks",
        "tokens",
        "workers",
    }
    ensure_schema(database)  # at head now: accepted
    again = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", empty_url])
    assert again.exit_code == 0, again.output


def test_upgrades_started_at_once_run_one_after_the_other(
    empty_url: str, database: Database
) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade_database(empty_url)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(database.engine) == head_revision()


def test_plain_postgresql_url_uses_psycopg(postgres: PostgresServer) -> None:
    url = postgres.migrated_database().replace("postgresql+psycopg://", "postgresql://")
    db = Database(url)
    try:
        assert db.engine.dialect.driver == "psycopg"
        ensure_schema(db)
    finally:
        db.dispose()


def test_times_are_utc_whatever_the_server_time_zone(service: TaskService) -> None:
    assert service.db.engine.dialect.name == "postgresql"
    with service.db.read() as session:
        zone = session.execute(text("SHOW timezone")).scalar()
    assert zone == "America/New_York"  # the throwaway server's default (see conftest)
    before = datetime.now(UTC)
    view = service.submit(b"#!/bin/sh\n", "t.sh", SubmitOptions())
    stored = service.get(view.id)
    assert stored is not None and stored.created == view.created
    assert stored.created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stored.created <= datetime.now(UTC)
    assert service.list(since=before - timedelta(seconds=1)).total == 1
    assert service.list(until=before - timedelta(seconds=1)).total == 0


def test_json_columns_round_trip(service: TaskService) -> None:
    options = SubmitOptions(arguments=["ü", '"quoted"', "a b"], priority=-3)
    view = service.submit(b"json", "j.sh", options)
    claim = lifecycle.claim_for_analysis(service.db, view.id, "w")
    assert claim is not None and claim.options["arguments"] == ["ü", '"quoted"', "a b"]
    assert lifecycle.acquired(service.db, view.id, claim.run_id, ["trace.log", "dropped.tar"])
    stored = service.get(view.id)
    assert stored is not None and stored.options == view.options
    assert {"trace", "dropped"} <= set(stored.artefacts)


def test_values_at_the_column_limits_are_stored(service: TaskService) -> None:
    """PostgreSQL enforces VARCHAR lengths (SQLite does not): the longest values the service
    accepts must fit."""
    name = "é" * 300  # sanitised to 255 bytes of UTF-8
    view = service.submit(b"limits", name, SubmitOptions(image="i" * 100))
    assert view.status == "failed"  # no such image; the reason is long text
    assert view.reason is not None and len(view.reason) > 200
    stored = service.get(view.id)
    assert stored is not None and stored.filename == view.filename
    task_id = service.submit(b"limits-2", "x", SubmitOptions()).id
    claim = lifecycle.claim_for_analysis(service.db, task_id, "w" * 200)
    assert claim is not None
    assert lifecycle.report_progress(service.db, task_id, claim.run_id, "p" * 500, 0.5)
    lifecycle.beat_worker(service.db, "w" * 200, "sandbox", "h" * 255, 1, task_id, ["a:b"] * 50)
    stored = service.get(task_id)
    assert stored is not None and stored.substatus == "p" * 200


def test_hostile_ids_and_filters_are_not_server_errors(service: TaskService) -> None:
    for task_id in ("a\x00b", "x" * 64, "'; DROP TABLE tasks; --"):
        assert service.get(task_id) is None
        assert not service.delete(task_id)
        assert service.report(task_id, "json") is None
    assert service.list(name="a\x00b").total == 0
    assert service.list(name="'%_\\").total == 0


def test_one_claim_wins_among_concurrent_workers(service: TaskService) -> None:
    task_id = service.submit(b"race", "r.sh", SubmitOptions()).id
    barrier = threading.Barrier(8)
    claims: list[object] = []
    errors: list[BaseException] = []

    def claim(index: int) -> None:
        barrier.wait()
        try:
            claims.append(lifecycle.claim_for_analysis(service.db, task_id, f"w{index}"))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len([c for c in claims if c is not None]) == 1
    with service.db.read() as session:
        task = session.get(Task, task_id)
        assert task is not None and task.attempts == 1 and task.status == "starting_vm"


def test_reapers_of_several_hosts_do_not_collide(service: TaskService) -> None:
    """Every daemon's supervisor reaps: passes running at once on one database must neither
    deadlock nor retry a task twice."""
    db, settings = service.db, service.settings
    ids = [service.submit(b"reap %d" % i, "r.sh", SubmitOptions()).id for i in range(12)]
    for task_id in ids:
        assert lifecycle.claim_for_analysis(db, task_id, f"gone:{task_id}") is not None
    later = utcnow() + timedelta(seconds=settings.stale_after_seconds + 1)
    results: list[lifecycle.ReapResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def reap() -> None:
        other = Database(settings.database_url)
        barrier.wait()
        try:
            results.append(lifecycle.reap(other, service.queues, settings, later))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=reap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    retried = [task_id for result in results for task_id in result.retried]
    assert sorted(retried) == sorted(ids)  # each exactly once
    assert {service.get(i).status for i in ids} == {"pending"}  # type: ignore[union-attr]
