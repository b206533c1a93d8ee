"""The service's commands: ``serve``, ``worker``, ``postprocess``, ``token``, ``db``.

``register(group)`` adds them to the ``aasee`` command. Run as a module
(``python -m aasee.cli.service_commands ROLE``) it is one child process of ``serve``/``worker``/
``postprocess`` (the web server, a sandbox worker or the postprocess worker); the settings come
from the supervising process.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from aasee.cli import exit_codes

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

CHILD_MODULE = "aasee.cli.service_commands"


def _settings_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--config",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Settings file (TOML; default $AASEE_CONFIG or /etc/aasee/aasee.toml).",
        ),
        click.option("--database-url", help="sqlite:///FILE or postgresql://... (overrides)."),
        click.option("--queue-url", help="sqlite:///FILE or redis://HOST:PORT/DB (overrides)."),
        click.option(
            "--storage-url", help="file:///FOLDER or s3://BUCKET/PREFIX?endpoint_url=... "
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _load(config: Path | None, **urls: str | None) -> Any:
    from aasee.service.settings import SettingsError, load_settings

    try:
        return load_settings(config, **urls)
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.BAD_INPUT)


def _service(settings: Any) -> Any:
    from aasee.service.db import DatabaseError
    from aasee.service.facade import TaskService
    from aasee.service.queue import QueueError
    from aasee.service.storage import StorageError

    try:
        return TaskService(settings)
    except (DatabaseError, QueueError, StorageError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.FAILED)


def _prepare_database(settings: Any) -> None:
    from aasee.service.db import Database, DatabaseError, ensure_schema

    database = Database(settings.database_url)
    try:
        ensure_schema(database)
    except DatabaseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exit_codes.FAILED)
    finally:
        database.dispose()


def _child(role: str, index: int = 0, *extra: str) -> list[str]:
    return [sys.executable, "-m", CHILD_MODULE, role, str(index), *extra]


def _worker_specs(count: int, postprocess: bool) -> list[Any]:
    from aasee.service.serve import ChildSpec

    specs = [
        ChildSpec(f"sandbox-{i}", "sandbox", _child("sandbox", i), index=i)
        for i in range(1, count + 1)
    ]
    if postprocess:
        specs.append(ChildSpec("postprocess-1", "postprocess", _child("postprocess", 1), index=1))
    return specs


def _listen(host: str, port: int) -> socket.socket:
    """The web server's socket, bound here so a busy port is an error now, not a restart loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}")
        sys.exit(exit_codes.FAILED)
    listener.listen(1024)
    listener.set_inheritable(True)
    return listener


def _check_web_app() -> None:
    try:
        from aasee.web.app import create_app  # noqa: F401
    except ImportError as exc:
        console.print(
            f"[red]error:[/red] the web app is not available ({exc}); `aasee serve` needs "
            "aasee.web.app.create_app"
        )
        sys.exit(exit_codes.FAILED)


def _web_child(settings: Any, host: str, port: int) -> tuple[Any, str, socket.socket]:
    """The web child of a supervisor, its URL, and the socket it will inherit (keep it open)."""
    if not 0 <= port < 65536:
        console.print(f"[red]error:[/red] --port must be 0-65535 (0: any free port), got {port}")
        sys.exit(exit_codes.BAD_INPUT)
    _check_web_app()
    _prepare_database(settings)
    from aasee.service.serve import ChildSpec

    listener = _listen(host, port)
    fd = listener.fileno()
    shown = f"[{host}]" if ":" in host else host
    spec = ChildSpec("web", "web", _child("web", 0, str(fd)), pass_fds=(fd,))
    return spec, f"http://{shown}:{listener.getsockname()[1]}/", listener


def _initial_token(settings: Any) -> str | None:
    """A first token when there is none, so a fresh service can be used at once."""
    service = _service(settings)
    try:
        if service.list_tokens():
            return None
        return str(service.create_token("admin"))
    finally:
        service.close()


def _validate_count(value: int, label: str) -> None:
    if value < 1 or value > 64:
        console.print(f"[red]error:[/red] {label} must be between 1 and 64, got {value}")
        sys.exit(exit_codes.BAD_INPUT)


def _supervise(settings: Any, specs: list[Any]) -> None:
    from aasee.service.serve import Supervisor

    sys.exit(Supervisor(settings, specs).run())


def register(group: click.Group) -> None:
    """Add the service commands to ``group`` (the ``aasee`` command)."""

    @group.command()
    @_settings_options
    @click.option("--workers", default=1, show_default=True, help="Sandbox workers (one VM each).")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8000, show_default=True, help="Port to listen on.")
    def serve(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        workers: int,
        host: str,
        port: int,
    ) -> None:
        """Run the whole service in one process tree: web + API, workers, postprocessing."""
        _validate_count(workers, "--workers")
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        web, url, _listener = _web_child(settings, host, port)
        token = _initial_token(settings)
        out.print(f"AASEE service on {url} (API docs at /api/docs)")
        out.print(
            f"  {workers} sandbox worker(s), 1 postprocess worker; database {settings.database_url}"
        )
        if token:
            out.print(f"  first API token (shown once): [bold]{token}[/bold]")
        out.print("  more tokens: aasee token create NAME    stop: Ctrl-C")
        sys.stdout.flush()
        _supervise(settings, [web, *_worker_specs(workers, postprocess=True)])

    @group.command()
    @_settings_options
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8000, show_default=True, help="Port to listen on.")
    def web(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        host: str,
        port: int,
    ) -> None:
        """Run only the web UI and REST API (workers run elsewhere: aasee worker, postprocess)."""
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        web, url, _listener = _web_child(settings, host, port)
        out.print(
            f"AASEE web + API on {url} (API docs at /api/docs); database {settings.database_url}"
        )
        sys.stdout.flush()
        _supervise(settings, [web])

    @group.command()
    @_settings_options
    @click.option("--count", default=1, show_default=True, help="Worker processes on this host.")
    def worker(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        count: int,
    ) -> None:
        """Run sandbox workers: each takes tasks from the queue and analyses them in a VM."""
        _validate_count(count, "--count")
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        _prepare_database(settings)
        _supervise(settings, _worker_specs(count, postprocess=False))

    @group.command()
    @_settings_options
    def postprocess(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
    ) -> None:
        """Run the postprocess worker: raw artefacts -> reports (never holds a VM)."""
        from aasee.service.serve import ChildSpec

        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        _prepare_database(settings)
        spec = ChildSpec("postprocess-1", "postprocess", _child("postprocess", 1), index=1)
        _supervise(settings, [spec])

    @group.group()
    def token() -> None:
        """Create, list and revoke API tokens."""

    @token.command("create")
    @_settings_options
    @click.argument("name")
    def token_create(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        name: str,
    ) -> None:
        """Create a token called NAME; it is printed once and only its hash is kept."""
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        service = _service(settings)
        try:
            secret = service.create_token(name)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            sys.exit(exit_codes.BAD_INPUT)
        finally:
            service.close()
        console.print(f"token '{name}' created; it cannot be shown again:")
        out.print(secret)

    @token.command("list")
    @_settings_options
    def token_list(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
    ) -> None:
        """List tokens (names and dates; the secrets are not stored)."""
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        service = _service(settings)
        try:
            rows = service.list_tokens()
        finally:
            service.close()
        if not rows:
            out.print("no tokens: create one with `aasee token create NAME`")
            return
        table = Table("name", "created", "last used")
        for row in rows:
            last = row["last_used"]
            table.add_row(
                row["name"],
                row["created"].isoformat(timespec="seconds"),
                last.isoformat(timespec="seconds") if last else "never",
            )
        out.print(table)

    @token.command("revoke")
    @_settings_options
    @click.argument("name")
    def token_revoke(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        name: str,
    ) -> None:
        """Revoke the token called NAME."""
        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        service = _service(settings)
        try:
            revoked = service.revoke_token(name)
        finally:
            service.close()
        if not revoked:
            console.print(f"[red]error:[/red] no token named '{name}'")
            sys.exit(exit_codes.BAD_INPUT)
        out.print(f"token '{name}' revoked")

    @group.group()
    def db() -> None:
        """Manage the service database schema."""

    @db.command("upgrade")
    @_settings_options
    @click.option("--revision", default="head", show_default=True, help="Target revision.")
    def db_upgrade(
        config: Path | None,
        database_url: str | None,
        queue_url: str | None,
        storage_url: str | None,
        revision: str,
    ) -> None:
        """Create or upgrade the database schema (Alembic migrations)."""
        from aasee.service.db import DatabaseError, upgrade

        settings = _load(
            config, database_url=database_url, queue_url=queue_url, storage_url=storage_url
        )
        try:
            now = upgrade(settings.database_url, revision)
        except DatabaseError as exc:
            console.print(f"[red]error:[/red] {exc}")
            sys.exit(exit_codes.FAILED)
        out.print(f"database schema at revision {now}")


def _run_web(fd: int) -> int:
    import uvicorn

    from aasee.service.serve import child_settings
    from aasee.web.app import create_app

    settings = child_settings()
    uvicorn.run(create_app(settings), fd=fd, log_level="warning", access_log=False)
    return 0


def child_main(argv: list[str]) -> int:
    """One child of a supervisor: ``web INDEX FD``, ``sandbox INDEX`` or ``postprocess INDEX``."""
    from aasee.service.serve import run_postprocess_child, run_sandbox_child

    if len(argv) < 2 or argv[0] not in ("web", "sandbox", "postprocess"):
        console.print("usage: python -m aasee.cli.service_commands web|sandbox|postprocess INDEX")
        return exit_codes.BAD_INPUT
    role, index = argv[0], int(argv[1])
    if role == "web":
        return _run_web(int(argv[2]))
    if role == "sandbox":
        return run_sandbox_child(index)
    return run_postprocess_child(index)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
