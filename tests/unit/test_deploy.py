"""deploy/ stays in step with the code: its settings file is valid settings, every systemd
unit runs an `aasee` command line the CLI accepts, and the compose file runs the same ones."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from aasee.cli.main import main
from aasee.service.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _parses(argv: list[str]) -> None:
    """``aasee ARGV`` gets through click's parsing (commands and options exist) unrun."""
    command: click.Command = main
    args = list(argv)
    while isinstance(command, click.Group):
        name, args = args[0], args[1:]
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"no command {name!r} in aasee {' '.join(argv)}"
        command = found
    command.make_context(command.name or "aasee", args)


def test_the_example_settings_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AASEE_HOME", "AASEE_DATABASE_URL", "AASEE_QUEUE_URL", "AASEE_STORAGE_URL"):
        monkeypatch.delenv(variable, raising=False)
    settings = load_settings(DEPLOY / "aasee.toml")
    assert settings.database_url.startswith("postgresql://")
    assert settings.queue_url.startswith("redis://")
    assert settings.storage_url.startswith("s3://")


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_each_unit_runs_a_command_line_the_cli_accepts(unit: Path) -> None:
    text = unit.read_text()
    environment = dict(re.findall(r"^Environment=(\w+)=(\S*)$", text, re.MULTILINE))
    (command,) = re.findall(r"^ExecStart=(.+)$", text, re.MULTILINE)
    for name, value in environment.items():
        command = command.replace(f"${{{name}}}", value)
    argv = shlex.split(command)
    assert argv[0] == "/usr/local/bin/aasee" and "${" not in command, command
    assert "--config" in argv and argv[argv.index("--config") + 1] == "/etc/aasee/aasee.toml"
    assert "EnvironmentFile=/etc/aasee/aasee.env" in text
    _parses(argv[1:])


def test_the_compose_services_run_command_lines_the_cli_accepts() -> None:
    text = (DEPLOY / "compose" / "compose.yaml").read_text()
    # Each aasee service's command is a one-line JSON-style list right under its name.
    commands = dict(
        re.findall(r"^  (aasee-[\w-]+):\n(?:    .*\n)*?    command: (\[.*\])$", text, re.MULTILINE)
    )
    assert {"aasee-web", "aasee-worker", "aasee-postprocess", "aasee-karton"} <= set(commands)
    assert "AASEE_CONFIG: /etc/aasee/aasee.toml" in text
    for command in commands.values():
        _parses(json.loads(command))
