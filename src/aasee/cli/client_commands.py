"""``aasee submit``, ``aasee status`` and ``aasee report``: the service's REST API from a shell.

Each command talks to a running service (``--server``, default ``$AASEE_SERVER`` or
http://127.0.0.1:8000) with an API token (``--token`` or ``$AASEE_TOKEN``). Exit codes follow
``aasee analyze``: 0 done, 2 the request was refused (bad input, unknown task, not ready),
3 the analysis failed; 1 when the service cannot be reached or answers with an error of its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from aasee.cli import exit_codes

DEFAULT_SERVER = "http://127.0.0.1:8000"
FINAL = ("reported", "failed")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class ClientError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ApiClient:
    """A thin client of ``/api/v1``: one method per call, errors as ``ClientError``."""

    def __init__(self, server: str, token: str, timeout: float = 60.0) -> None:
        self.server = server.rstrip("/")
        self.http = httpx.Client(
            base_url=self.server + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "aasee-cli"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(
                f"cannot reach the AASEE service at {self.server}: {exc} "
                "(is `aasee serve` running? see --server)",
                exit_codes.UNREACHABLE,
            ) from exc
        if response.is_success:
            return response
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text.strip()[:500] or response.reason_phrase
        code = exit_codes.BAD_INPUT if response.status_code < 500 else exit_codes.UNREACHABLE
        raise ClientError(f"the service answered {response.status_code}: {detail}", code)

    def submit(self, sample: Path, fields: dict[str, Any]) -> dict[str, Any]:
        with sample.open("rb") as handle:
            files = {"file": (sample.name, handle, "application/octet-stream")}
            answer: dict[str, Any] = self._call("POST", "/tasks", files=files, data=fields).json()
        return answer

    def task(self, task_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"/tasks/{_segment(task_id)}").json()
        return answer

    def report(self, task_id: str, html: bool) -> bytes:
        suffix = "report.html" if html else "report"
        return self._call("GET", f"/tasks/{_segment(task_id)}/{suffix}").content


def _segment(task_id: str) -> str:
    if not task_id or "/" in task_id or task_id in (".", ".."):
        raise ClientError(f"{task_id!r} is not a task id", exit_codes.BAD_INPUT)
    return task_id


def _fail(error: ClientError) -> NoReturn:
    # Text, not markup: the message may quote the service, which quotes the sample.
    err.print(Text.assemble(("error: ", "red"), str(error)), highlight=False)
    sys.exit(error.code)


def _client(server: str, token: str | None) -> ApiClient:
    if not token:
        _fail(
            ClientError(
                "no API token: pass --token or set AASEE_TOKEN (an administrator creates one "
                "with `aasee token create NAME`)",
                exit_codes.BAD_INPUT,
            )
        )
    return ApiClient(server, token)


def _connection_options(command: Any) -> Any:
    command = click.option(
        "--token",
        envvar="AASEE_TOKEN",
        help="API token (default $AASEE_TOKEN).",
    )(command)
    command = click.option(
        "--server",
        envvar="AASEE_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        help="URL of the AASEE service (or $AASEE_SERVER).",
    )(command)
    return command


def _task_table(task: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    options = task.get("options") or {}
    rows = [
        ("id", task.get("id")),
        ("file", task.get("filename")),
        ("sha256", task.get("sha256")),
        ("status", task.get("status")),
        ("substatus", task.get("substatus")),
        ("verdict", task.get("verdict")),
        ("score", None if task.get("score") is None else f"{task['score']:.1f}/10"),
        ("reason", task.get("reason")),
        ("submitted", task.get("created")),
        ("finished", task.get("finished")),
        ("sample arch", task.get("sample_arch")),
        ("guest", f"{options.get('image')} ({task.get('arch')})" if task.get("arch") else None),
        ("network", options.get("network")),
        ("timeout", options.get("timeout")),
    ]
    for label, value in rows:
        if value not in (None, ""):
            # Text, not markup: file names and reasons may carry "[...]" from the sample.
            table.add_row(label, Text(str(value)))
    return table


def _wait(client: ApiClient, task_id: str, interval: float) -> dict[str, Any]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("pending", total=1.0)
        while True:
            task = client.task(task_id)
            status = str(task.get("status"))
            phase = task.get("substatus") or ""
            progress.update(
                bar,
                description=f"{status} {phase}".strip(),
                completed=task.get("progress") or (1.0 if status in FINAL else 0.0),
            )
            if status in FINAL:
                return task
            time.sleep(interval)


def _finish(task: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(task))
    else:
        out.print(_task_table(task))
    if task.get("status") == "failed":
        # Ran, but the sample could not be executed in the guest: the report says why.
        not_run = task.get("verdict") == "not executed"
        sys.exit(exit_codes.NOT_EXECUTED if not_run else exit_codes.FAILED)


@click.command("submit")
@click.argument("sample", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_connection_options
@click.option("--timeout", "-t", type=float, help="Seconds to run the sample (service default).")
@click.option(
    "--network",
    type=click.Choice(["fake", "isolated", "none", "internet"]),
    help="Guest network (default fake internet).",
)
@click.option("--arg", "arguments", multiple=True, help="Sample argument (repeatable).")
@click.option("--image", help="Guest image (default: one of the sample's architecture).")
@click.option("--priority", type=click.IntRange(-10, 10), help="Higher runs first.")
@click.option("--user", help="Guest user to run the sample as.")
@click.option("--force", is_flag=True, help="Analyse again even if already analysed.")
@click.option("--wait", "-w", is_flag=True, help="Follow the analysis until it is reported.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between status checks.")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def submit_command(
    sample: Path,
    server: str,
    token: str | None,
    timeout: float | None,
    network: str | None,
    arguments: tuple[str, ...],
    image: str | None,
    priority: int | None,
    user: str | None,
    force: bool,
    wait: bool,
    poll: float,
    as_json: bool,
) -> None:
    """Submit SAMPLE to an AASEE service for analysis."""
    fields: dict[str, Any] = {
        "timeout": timeout,
        "network": network,
        "image": image,
        "priority": priority,
        "user": user,
        "force": "true" if force else None,
    }
    fields = {key: str(value) for key, value in fields.items() if value is not None}
    if arguments:
        fields["arguments"] = list(arguments)
    client = _client(server, token)
    try:
        task = client.submit(sample, fields)
        note = "reused the existing analysis" if task.get("reused") else "submitted"
        err.print(f"{note} {task['id']} ({task.get('status')})", markup=False, highlight=False)
        if wait and task.get("status") not in FINAL:
            task = _wait(client, str(task["id"]), max(0.2, poll))
        _finish(task, as_json)
    except ClientError as error:
        _fail(error)
    finally:
        client.close()


@click.command("status")
@click.argument("task_id")
@_connection_options
@click.option("--wait", "-w", is_flag=True, help="Follow the analysis until it is reported.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between status checks.")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def status_command(
    task_id: str, server: str, token: str | None, wait: bool, poll: float, as_json: bool
) -> None:
    """Show the status of analysis TASK_ID (exit 3 if it failed)."""
    client = _client(server, token)
    try:
        task = client.task(task_id)
        if wait and task.get("status") not in FINAL:
            task = _wait(client, task_id, max(0.2, poll))
        _finish(task, as_json)
    except ClientError as error:
        _fail(error)
    finally:
        client.close()


@click.command("report")
@click.argument("task_id")
@_connection_options
@click.option("--html", is_flag=True, help="The HTML report instead of report.json.")
@click.option(
    "--out",
    "-o",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)
def report_command(
    task_id: str, server: str, token: str | None, html: bool, out_file: Path | None
) -> None:
    """Fetch the report of analysis TASK_ID."""
    client = _client(server, token)
    try:
        data = client.report(task_id, html)
    except ClientError as error:
        _fail(error)
    finally:
        client.close()
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            out_file.write_bytes(data)
        except OSError as exc:
            _fail(ClientError(f"cannot write {out_file}: {exc}", exit_codes.BAD_INPUT))
        err.print(f"wrote {out_file} ({len(data)} bytes)", markup=False, highlight=False)


def register(group: click.Group) -> None:
    """Add ``submit``, ``status`` and ``report`` to the ``aasee`` command group."""
    for command in (submit_command, status_command, report_command):
        group.add_command(command)
