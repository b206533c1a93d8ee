"""Service settings: where the database, queue and storage live, and the service's limits.

Settings come from, lowest to highest precedence: built-in defaults, a TOML file, environment
variables, then keyword overrides (command-line options).

The file is ``--config FILE``, else ``$AASEE_CONFIG``, else ``/etc/aasee/aasee.toml``; a missing
file at the two implicit places means "all defaults", a missing explicit file is an error.
Every key is optional, unknown keys are refused::

    # /etc/aasee/aasee.toml
    home = "/var/lib/aasee"                         # images, snapshots, runs; $AASEE_HOME
    database_url = "sqlite:////var/lib/aasee/service/aasee.db"
    #   or "postgresql+psycopg://aasee:secret@db.example/aasee"       $AASEE_DATABASE_URL
    queue_url = "sqlite:////var/lib/aasee/service/queue.db"
    #   or "redis://127.0.0.1:6379/0" (also rediss://, unix:///run/redis.sock)  $AASEE_QUEUE_URL
    storage_url = "file:///var/lib/aasee/service/storage"
    #   or "s3://bucket/prefix?endpoint_url=http://minio:9000&region=us-east-1"  $AASEE_STORAGE_URL
    #   (S3 credentials come from the usual AWS variables / files, never from this file)
    scratch_dir = "/var/lib/aasee/service/scratch"  # workers' local working directories
    max_upload_bytes = 268435456                    # largest sample accepted (256 MiB)
    task_retries = 1                                # extra attempts after a worker died
    heartbeat_seconds = 5                           # how often a busy worker says it is alive
    stale_after_seconds = 60                        # silence after which its task is reaped
    default_timeout = 60                            # seconds a sample runs unless asked
    default_sandbox = "qemu"                        # qemu (a VM) or lxc (a container on the
                                                    #   host's kernel: weaker isolation)
    sandboxes = ["qemu", "lxc"]                     # the kinds a submission may ask for
    max_timeout = 600                               # longest run a submission may ask for
    run_grace_seconds = 300                         # boot/collection time allowed on top of
                                                    #   the timeout before a run is stopped
    postprocess_timeout_seconds = 600               # longest postprocessing of one task
    warm_pool = true                                # each sandbox worker keeps its next VM
                                                    #   restored and paused before tasks come
    zip_password = "infected"                       # password of sample / dropped-file zips
    internet_enabled = false                        # the only switch for --network internet
    internet_uplink = "eth1"                        # host interface the guest may leave by
    internet_dns = "192.0.2.53"                     # resolver the guest is given then
    compat_anonymous_networks = []                  # CIDRs allowed to use the Cuckoo/CAPE-
                                                    #   compatible API without a token, e.g.
                                                    #   ["127.0.0.1/32"] (default: none)

Defaults of the three URLs and of ``scratch_dir`` are under ``{home}/service``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aasee.contexts.uplink import InternetUplink, UplinkError

DEFAULT_HOME = Path("/var/lib/aasee")
DEFAULT_CONFIG = Path("/etc/aasee/aasee.toml")
ENV_OVERRIDES = {
    "home": "AASEE_HOME",
    "database_url": "AASEE_DATABASE_URL",
    "queue_url": "AASEE_QUEUE_URL",
    "storage_url": "AASEE_STORAGE_URL",
}
DATABASE_SCHEMES = ("sqlite", "postgresql")
QUEUE_SCHEMES = ("sqlite", "redis", "rediss", "unix")
STORAGE_SCHEMES = ("file", "s3")


class SettingsError(Exception):
    """The settings file or an override is invalid; the message names the file and field."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = DEFAULT_HOME
    database_url: str = ""
    queue_url: str = ""
    storage_url: str = ""
    scratch_dir: Path = Path()
    max_upload_bytes: int = Field(256 << 20, gt=0, le=4 << 30)
    task_retries: int = Field(1, ge=0, le=10)
    heartbeat_seconds: float = Field(5, gt=0, le=300)
    stale_after_seconds: float = Field(60, gt=0, le=86400)
    default_timeout: float = Field(60, gt=0)
    default_sandbox: str = Field("qemu", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    sandboxes: list[str] = Field(default_factory=lambda: ["qemu", "lxc"], min_length=1)
    max_timeout: float = Field(600, gt=0, le=86400)
    run_grace_seconds: float = Field(300, gt=0, le=86400)
    postprocess_timeout_seconds: float = Field(600, gt=0, le=86400)
    warm_pool: bool = True
    zip_password: str = Field("infected", min_length=1, max_length=200)
    internet_enabled: bool = False
    internet_uplink: str | None = None
    internet_dns: str | None = None
    compat_anonymous_networks: list[str] = Field(default_factory=list, max_length=256)

    @field_validator("compat_anonymous_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        try:
            return [
                str(ipaddress.ip_network(network.strip(), strict=False)) for network in networks
            ]
        except ValueError as exc:
            raise ValueError(
                f"compat_anonymous_networks: {exc} (give CIDRs, e.g. 10.0.0.0/8)"
            ) from None

    @model_validator(mode="before")
    @classmethod
    def _defaults_under_home(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        home = Path(data.get("home") or DEFAULT_HOME)
        service = home / "service"
        defaults = {
            "database_url": f"sqlite:///{service / 'aasee.db'}",
            "queue_url": f"sqlite:///{service / 'queue.db'}",
            "storage_url": f"file://{service / 'storage'}",
            "scratch_dir": service / "scratch",
        }
        for key, value in defaults.items():
            if not data.get(key):
                data[key] = value
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        _check_scheme("database_url", self.database_url, DATABASE_SCHEMES)
        _check_scheme("queue_url", self.queue_url, QUEUE_SCHEMES)
        _check_scheme("storage_url", self.storage_url, STORAGE_SCHEMES)
        if self.default_sandbox not in self.sandboxes:
            raise ValueError(
                f"default_sandbox {self.default_sandbox!r} is not one of sandboxes "
                f"({', '.join(self.sandboxes)})"
            )
        if self.default_timeout > self.max_timeout:
            raise ValueError(
                f"default_timeout ({self.default_timeout} s) exceeds max_timeout "
                f"({self.max_timeout} s)"
            )
        if self.internet_enabled and not (self.internet_uplink and self.internet_dns):
            raise ValueError(
                "internet_enabled needs internet_uplink (the host interface) and internet_dns"
            )
        if self.stale_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"stale_after_seconds ({self.stale_after_seconds}) must be at least twice "
                f"heartbeat_seconds ({self.heartbeat_seconds}), or live workers look dead"
            )
        return self

    @property
    def service_dir(self) -> Path:
        return self.home / "service"


def _check_scheme(field: str, url: str, schemes: tuple[str, ...]) -> None:
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in schemes:
        raise ValueError(
            f"{field} {url!r}: unsupported scheme {scheme!r}; use one of "
            + ", ".join(f"{s}://" for s in schemes)
        )


def _config_path(path: Path | None) -> tuple[Path, bool]:
    """The settings file to read, and whether it must exist (it was named explicitly)."""
    if path is not None:
        return path, True
    from_env = os.environ.get("AASEE_CONFIG")
    if from_env:
        return Path(from_env), False
    return DEFAULT_CONFIG, False


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        if required:
            raise SettingsError(f"settings file {path} does not exist") from exc
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Defaults < TOML file < environment < ``overrides`` (``None`` values are ignored)."""
    config_path, required = _config_path(path)
    data = _read_file(config_path, required)
    for field, variable in ENV_OVERRIDES.items():
        value = os.environ.get(variable)
        if value:
            data[field] = value
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings (file {config_path}): {problems}") from exc


def internet_uplink(settings: Settings) -> InternetUplink:
    """The uplink ``--network internet`` runs leave by; only these settings can provide one.

    Raises :class:`SettingsError` when internet runs are not enabled, or enabled without the
    interface or resolver, or with invalid ones.
    """
    if not settings.internet_enabled:
        raise SettingsError(
            "network mode 'internet' is disabled: it can only be enabled in the server "
            "configuration (internet_enabled = true, internet_uplink, internet_dns in "
            "$AASEE_CONFIG or /etc/aasee/aasee.toml), never per sample"
        )
    if not settings.internet_uplink or not settings.internet_dns:
        raise SettingsError(
            "internet_enabled is set but internet_uplink (the host interface to leave by) or "
            "internet_dns (the resolver the guest's DNS goes to) is missing"
        )
    try:
        return InternetUplink(interface=settings.internet_uplink, dns=settings.internet_dns)
    except UplinkError as exc:
        raise SettingsError(str(exc)) from exc
