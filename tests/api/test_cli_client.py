"""``aasee submit/status/report`` against the app under a real uvicorn server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aasee.cli.client_commands import register

from .conftest import Backend, LiveServer


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "cli-sample.sh"
    path.write_bytes(b"#!/bin/sh\necho from the cli\n")
    return path


def _run(cli: click.Group, live_server: LiveServer, token: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke(
        cli, list(args), env={"AASEE_SERVER": live_server.url, "AASEE_TOKEN": token}
    )


def test_submit_then_status(
    cli: click.Group, live_server: LiveServer, token: str, sample: Path
) -> None:
    submitted = _run(
        cli,
        live_server,
        token,
        "submit",
        str(sample),
        "--timeout",
        "20",
        "--network",
        "none",
        "--arg",
        "-x",
        "--arg",
        "two words",
        "--priority",
        "3",
        "--json",
    )
    assert submitted.exit_code == 0, submitted.output
    task = json.loads(submitted.stdout)
    assert task["filename"] == "cli-sample.sh"
    assert task["options"]["arguments"] == ["-x", "two words"]
    assert task["options"]["timeout"] == 20.0 and task["options"]["priority"] == 3
    status = _run(cli, live_server, token, "status", task["id"])
    assert status.exit_code == 0
    assert "pending" in status.stdout and task["id"] in status.stdout
    again = _run(
        cli,
        live_server,
        token,
        "submit",
        str(sample),
        "--timeout",
        "20",
        "--network",
        "none",
        "--arg",
        "-x",
        "--arg",
        "two words",
    )
    assert "reused" in again.stderr


def test_submit_wait_follows_to_reported_and_fetches_reports(
    cli: click.Group,
    live_server: LiveServer,
    token: str,
    sample: Path,
    backend: Backend,
    tmp_path: Path,
) -> None:
    def work() -> None:
        # The workers pick the task up a moment after submission, as a running service does.
        for _ in range(100):
            time.sleep(0.1)
            from aasee.service.facade import TaskService

            service = TaskService(backend.settings, prepare_schema=False)
            page = service.list(status="pending")
            service.close()
            if page.items:
                backend.report(page.items[0].id)
                return

    worker = threading.Thread(target=work)
    worker.start()
    result = _run(
        cli, live_server, token, "submit", str(sample), "--wait", "--poll", "0.2", "--json"
    )
    worker.join()
    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    assert task["status"] == "reported"
    out = tmp_path / "report.json"
    fetched = _run(cli, live_server, token, "report", task["id"], "--out", str(out))
    assert fetched.exit_code == 0, fetched.output
    assert json.loads(out.read_text())["sample"]["sha256"] == task["sha256"]
    html = _run(cli, live_server, token, "report", task["id"], "--html")
    assert html.exit_code == 0
    assert html.stdout.lstrip().lower().startswith("<!doctype html")


def test_report_of_an_unfinished_task_is_refused(
    cli: click.Group, live_server: LiveServer, token: str, sample: Path
) -> None:
    task = json.loads(_run(cli, live_server, token, "submit", str(sample), "--json").stdout)
    result = _run(cli, live_server, token, "report", task["id"])
    assert result.exit_code == 2
    assert "409" in result.stderr and "pending" in result.stderr


def test_failed_task_exits_3_with_the_reason(
    cli: click.Group, live_server: LiveServer, token: str, sample: Path
) -> None:
    result = _run(
        cli, live_server, token, "submit", str(sample), "--image", "no-such-guest", "--wait"
    )
    assert result.exit_code == 3
    assert "is not available" in result.stdout


def test_bad_token_and_unreachable_server(
    cli: click.Group, live_server: LiveServer, sample: Path
) -> None:
    refused = _run(cli, live_server, "aasee_wrong", "status", "x")
    assert refused.exit_code == 2 and "401" in refused.stderr
    missing = CliRunner().invoke(
        cli, ["status", "x"], env={"AASEE_SERVER": live_server.url, "AASEE_TOKEN": ""}
    )
    assert missing.exit_code == 2 and "AASEE_TOKEN" in missing.stderr
    down = CliRunner().invoke(
        cli, ["status", "x", "--server", "http://127.0.0.1:9", "--token", "t"]
    )
    assert down.exit_code == 1 and "cannot reach" in down.stderr


def test_bad_options_are_explained(
    cli: click.Group, live_server: LiveServer, token: str, sample: Path
) -> None:
    result = _run(cli, live_server, token, "submit", str(sample), "--timeout", "100000")
    assert result.exit_code == 2
    assert "exceeds this service's maximum" in result.stderr


def test_markup_in_names_is_printed_as_text(
    cli: click.Group, live_server: LiveServer, token: str, tmp_path: Path
) -> None:
    path = tmp_path / "[bold red]x[reverse].sh"
    path.write_bytes(b"echo markup")
    result = _run(cli, live_server, token, "submit", str(path))
    assert result.exit_code == 0
    assert "[bold red]x[reverse].sh" in result.stdout
