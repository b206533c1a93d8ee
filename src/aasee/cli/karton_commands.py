"""``aasee karton``: run AASEE as a service of a karton pipeline (the karton front end).

``register(group)`` adds the command to ``aasee``. It reads two files: the AASEE settings
(``--config``, as every service command: where the database, queue and storage are) and
karton's own configuration (``--karton-config``, else karton's search: /etc/karton/karton.ini,
~/.config/karton/karton.ini, ./karton.ini, $KARTON_CONFIG_FILE; ``[redis]``, ``[s3]`` and
the optional ``[aasee]`` section, see ``aasee.karton.consumer.KartonOptions``). It analyses
nothing itself: the service's workers (``aasee serve``, or ``aasee worker`` and ``aasee
postprocess``) must run, on this host or elsewhere on the same URLs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

from aasee.cli import exit_codes

console = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}")
    sys.exit(code)


def register(group: click.Group) -> None:
    """Add ``karton`` to ``group`` (the ``aasee`` command)."""

    @group.command()
    @click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="AASEE settings file (TOML; default $AASEE_CONFIG or /etc/aasee/aasee.toml).",
    )
    @click.option(
        "--karton-config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="karton.ini ([redis], [s3], optional [aasee]); default: karton's own search "
        "(/etc/karton/karton.ini, ~/.config/karton/karton.ini, ./karton.ini, "
        "$KARTON_CONFIG_FILE).",
    )
    @click.option("--identity", help="karton identity (default karton.aasee).")
    @click.option(
        "--timeout", type=float, help="Seconds each sample runs (overrides [aasee] timeout)."
    )
    @click.option(
        "--network",
        type=click.Choice(["fake", "isolated", "none", "internet"]),
        help="Guest network (overrides [aasee] network; default fake).",
    )
    @click.option(
        "--max-depth",
        type=int,
        help="Generations of dropped files analysed again (overrides [aasee] max_depth; "
        "default 0: dropped files are only sent on, not analysed).",
    )
    @click.option(
        "--log-level",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        help="karton log level (default: [logging] level of karton.ini, else INFO).",
    )
    def karton(
        config: Path | None,
        karton_config: Path | None,
        identity: str | None,
        timeout: float | None,
        network: str | None,
        max_depth: int | None,
        log_level: str | None,
    ) -> None:
        """Run AASEE as a karton service: classified Linux samples in, analyses out.

        Takes the samples karton-classifier recognised as Linux ELF programs or shell,
        Python and Perl scripts, analyses each in a guest of its architecture, and sends
        back a {"type": "analysis", "kind": "aasee"} task (report.json, report.html,
        network.pcap, dropped files), the verdict and signature tags of the sample for
        karton-mwdb-reporter, and every dropped file as a new sample whose parent is the
        analysed one. Stop with Ctrl-C or SIGTERM (a running wait ends its karton task as
        crashed; restarted, it reuses the AASEE analysis).
        """
        from karton.core import Config
        from redis.exceptions import RedisError
        from sqlalchemy.engine import make_url

        from aasee.karton.consumer import AaseeKarton, options_from_config
        from aasee.karton.selection import build_filters
        from aasee.service.db import DatabaseError
        from aasee.service.facade import TaskService
        from aasee.service.queue import QueueError
        from aasee.service.settings import SettingsError, load_settings
        from aasee.service.storage import StorageError

        try:
            settings = load_settings(config)
        except SettingsError as exc:
            _fail(str(exc), exit_codes.BAD_INPUT)
        try:
            karton_settings = Config(str(karton_config) if karton_config else None)
        except (OSError, RuntimeError) as exc:
            _fail(
                f"karton configuration{f' {karton_config}' if karton_config else ''}: {exc} "
                "(karton.ini needs [redis] host/port or url and [s3] address, access_key, "
                "secret_key, bucket)",
                exit_codes.BAD_INPUT,
            )
        if log_level:
            karton_settings.load_from_dict({"logging": {"level": log_level.upper()}})
        try:
            options = options_from_config(
                karton_settings, timeout=timeout, network=network, max_depth=max_depth
            )
            build_filters(options.scripts)
        except ValueError as exc:
            _fail(str(exc), exit_codes.BAD_INPUT)
        try:
            service = TaskService(settings)
        except (DatabaseError, QueueError, StorageError) as exc:
            _fail(f"the AASEE service is not usable: {exc}", exit_codes.FAILED)
        try:
            consumer = AaseeKarton(
                service, options, config=karton_settings, identity=identity or None
            )
        except (RedisError, OSError) as exc:
            service.close()
            _fail(
                f"cannot reach karton's Redis ([redis] of the karton configuration): {exc}",
                exit_codes.FAILED,
            )
        except (RuntimeError, ValueError) as exc:
            service.close()
            _fail(f"karton configuration: {exc}", exit_codes.BAD_INPUT)
        try:
            bucket = consumer.backend.default_bucket_name
            found = consumer.backend.check_bucket_exists(bucket, create=False)
        except Exception as exc:  # botocore's errors: unreachable, refused, bad credentials
            service.close()
            _fail(
                f"cannot use karton's S3 ([s3] of the karton configuration): "
                f"{type(exc).__name__}: {exc}",
                exit_codes.FAILED,
            )
        if not found:
            service.close()
            _fail(
                f"karton's S3 bucket {bucket!r} does not exist: start karton-system once "
                "with --setup-bucket (or create the bucket)",
                exit_codes.FAILED,
            )
        consumer.log.info(
            "AASEE karton service %s takes %s; AASEE service database %s",
            consumer.identity,
            "; ".join(
                ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("type", "stage"))
                for f in consumer.filters
            ),
            make_url(settings.database_url).render_as_string(hide_password=True),
        )
        try:
            consumer.loop()
        except KeyboardInterrupt:
            sys.exit(exit_codes.INTERRUPTED)
        finally:
            service.close()
