"""Turning an upload's form fields into ``SubmitOptions`` — shared by the API and the UI form.

The fields are those of ``AnalysisOptions`` (``timeout``, ``network``, ``image``, ``priority``,
``user``, ``sandbox``, ``accel``, ``memory_mib``, ``vcpus``, ``revert``, ``time_warp``,
``stop_on_exit``, ``full_timeout``, ``raw_syscalls``, ``boot_timeout``, ``display``),
``arguments`` (repeatable; ``arg`` is an alias) and ``force``. Empty fields mean "the
default".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aasee.service.facade import SubmitOptions

from .errors import describe_validation
from .uploads import Upload

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
SCALAR_FIELDS = tuple(name for name in SubmitOptions.model_fields if name != "arguments")
KNOWN_FIELDS = frozenset({*SCALAR_FIELDS, "arguments", "arg", "force", "csrf"})


class OptionsError(ValueError):
    """The submission's options are invalid; the message names each bad field."""


@dataclass(frozen=True)
class Submission:
    options: SubmitOptions
    force: bool


def submission_from(upload: Upload, *, drop_empty_arguments: bool = False) -> Submission:
    """``drop_empty_arguments``: the web form always sends its (maybe blank) argument boxes."""
    unknown = sorted(set(upload.fields) - KNOWN_FIELDS)
    if unknown:
        raise OptionsError(
            f"unknown form field(s) {', '.join(repr(n) for n in unknown)}; known: "
            + ", ".join(sorted(KNOWN_FIELDS - {"csrf", "arg"}))
        )
    raw: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        values = upload.fields.get(name, [])
        if len(values) > 1:
            raise OptionsError(f"field {name!r} was given {len(values)} times; give it once")
        if values and values[0].strip():
            raw[name] = values[0].strip()
    arguments = upload.fields.get("arguments", []) + upload.fields.get("arg", [])
    if drop_empty_arguments:
        arguments = [argument for argument in arguments if argument.strip()]
    if arguments:
        raw["arguments"] = arguments
    force_text = (upload.first("force") or "").strip().lower()
    if force_text not in TRUE_WORDS | FALSE_WORDS:
        raise OptionsError(f"field 'force': {force_text!r} is not a yes/no value (true/false)")
    try:
        options = SubmitOptions.model_validate(raw)
    except ValidationError as exc:
        raise OptionsError(describe_validation(_as_fields(exc.errors()))) from None
    return Submission(options, force_text in TRUE_WORDS)


def _as_fields(errors: Any) -> list[dict[str, Any]]:
    return [{**error, "loc": ("body", *error.get("loc", ()))} for error in errors]
