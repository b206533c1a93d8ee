"""The service commands through a click group, on real temporary databases."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aasee.cli.service_commands import register
from aasee.service.db import Database, current_revision, head_revision


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("aasee")
    register(group)
    return group


@pytest.fixture
def urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("AASEE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AASEE_HOME", str(tmp_path / "home"))
    return [
        "--database-url",
        f"sqlite:///{tmp_path}/cli.db",
        "--queue-url",
        f"sqlite:///{tmp_path}/q.db",
        "--storage-url",
        f"file://{tmp_path}/store",
    ]


def test_db_upgrade(cli: click.Group, urls: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", *urls])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    database = Database(f"sqlite:///{tmp_path}/cli.db")
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_token_create_list_revoke(cli: click.Group, urls: list[str]) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["token", "create", "ci-bot", *urls])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("aasee_") and len(secret) > 40
    listed = runner.invoke(cli, ["token", "list", *urls])
    assert "ci-bot" in listed.output and secret not in listed.output
    duplicate = runner.invoke(cli, ["token", "create", "ci-bot", *urls])
    assert duplicate.exit_code == 2 and "exists" in duplicate.output
    assert runner.invoke(cli, ["token", "revoke", "ci-bot", *urls]).exit_code == 0
    missing = runner.invoke(cli, ["token", "revoke", "ci-bot", *urls])
    assert missing.exit_code == 2 and "no token named 'ci-bot'" in missing.output
    assert "no tokens" in runner.invoke(cli, ["token", "list", *urls]).output


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        (["serve"], ["--workers", "0"], "--workers must be between 1 and 64"),
        (["serve"], ["--port", "70000"], "--port must be"),
        (["worker"], ["--count", "65"], "--count must be between 1 and 64"),
        (["token", "create", "a/b"], [], "not allowed"),
        (["db", "upgrade"], ["--database-url", "mysql://x/y"], "unsupported scheme 'mysql'"),
        (["db", "upgrade"], ["--config", "/nonexistent/aasee.toml"], "does not exist"),
        (["token", "list"], ["--queue-url", "amqp://x"], "queue_url"),
        (["token", "list"], ["--storage-url", "gs://bucket"], "storage_url"),
    ],
)
def test_bad_options_are_refused(
    cli: click.Group, urls: list[str], command: list[str], options: list[str], message: str
) -> None:
    # The option under test comes last: it overrides the good URL of the fixture.
    result = CliRunner().invoke(cli, [*command, *urls, *options])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_busy_port_is_a_clear_error(cli: click.Group, urls: list[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), *urls])
    assert result.exit_code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
