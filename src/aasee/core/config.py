"""Validation and loading of the hooks configuration.

This module owns the JSON shape environments are configured with::

    {"configuration": {...generic...},
     "hooks": [{"name": "package.module.Class", "configuration": {...}}]}

and the rule for merging the generic section into each hook's own section.
Reading the file named by the caller is the only I/O done here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

__all__ = ["ConfigError", "HookSpec", "HooksConfig", "load_hooks_config", "merged_configuration"]


class ConfigError(Exception):
    """The hooks configuration cannot be read or is malformed.

    ``source`` names the file the configuration came from, if any.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable despite the extra constructor argument.
        return (type(self), (str(self), self.source))


def _is_dotted_path(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and all(part.isidentifier() for part in parts)


class HookSpec(BaseModel):
    """One hook to load: its import path and its own configuration."""

    model_config = ConfigDict(extra="forbid")

    name: str
    configuration: dict[str, Any] = Field(default_factory=dict)
    optional: bool = False
    """Skip the hook (logged, listed in ``HookManager.skipped``) when the context lacks a
    capability it needs, instead of failing the load: evidence a sandbox kind cannot give."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _is_dotted_path(name):
            raise ValueError(
                f"hook name must be a dotted import path such as 'package.module.ClassName', "
                f"got {name!r}"
            )
        return name


class HooksConfig(BaseModel):
    """The whole hooks configuration of an environment."""

    model_config = ConfigDict(extra="forbid")

    configuration: dict[str, Any] = Field(default_factory=dict)
    hooks: list[HookSpec] = Field(default_factory=list)


def load_hooks_config(
    source: HooksConfig | Mapping[str, Any] | str | os.PathLike[str] | None,
) -> HooksConfig:
    """Return a validated :class:`HooksConfig` from ``source``.

    ``source`` may be None (no hooks), an existing :class:`HooksConfig`, a
    mapping in the JSON shape, or the path of a JSON file. Every failure is
    reported as :class:`ConfigError`.
    """
    if source is None:
        return HooksConfig()
    if isinstance(source, HooksConfig):
        return source
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        return _validate(_read_json(path), f"hooks configuration file {path!r}", path)
    return _validate(
        dict(source) if isinstance(source, Mapping) else source, "hooks configuration", None
    )


def merged_configuration(generic: Mapping[str, Any], specific: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay ``specific`` on ``generic``, merging nested mappings recursively.

    On conflicting keys ``specific`` wins unless both values are mappings, in
    which case they are merged in turn. Neither input is modified: every
    mapping in the result is a new dict. Other values (lists, objects) are
    shared rather than copied so that in-process objects can be passed
    through configuration.
    """
    result: dict[str, Any] = {key: _copy_mappings(value) for key, value in generic.items()}
    for key, value in specific.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = merged_configuration(current, value)
        else:
            result[key] = _copy_mappings(value)
    return result


def _copy_mappings(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy_mappings(item) for key, item in value.items()}
    return value


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as exc:
        raise ConfigError(
            f"cannot read hooks configuration file {path!r}: {exc.strerror or exc}", path
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"hooks configuration file {path!r} is not UTF-8: {exc}", path) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"hooks configuration file {path!r} is not valid JSON: "
            f"{exc.msg} at line {exc.lineno} column {exc.colno}",
            path,
        ) from exc


def _validate(data: Any, what: str, path: str | None) -> HooksConfig:
    try:
        return HooksConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_location(error['loc'])}: {_message(error)}" for error in exc.errors()
        )
        raise ConfigError(f"invalid {what}: {problems}", path) from exc


def _message(error: ErrorDetails) -> str:
    # pydantic prefixes our own validator messages with "Value error, ".
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return error["msg"]


def _location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as ``hooks[0].name``."""
    rendered = ""
    for part in loc:
        if isinstance(part, int):
            rendered += f"[{part}]"
        else:
            rendered += f".{part}" if rendered else part
    return rendered or "<top level>"
