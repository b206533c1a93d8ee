"""JSON Pointers into a report: parsing them, naming the HTML anchor of what they point to,
and looking the pointed-to value up in the model.

Signature evidence refers to report facts by RFC 6901 pointer (``/files/written/3``). The
report links each to the table row that shows the fact; a row's ``id`` is derived from its
pointer by :func:`anchor`, so the tables and the evidence list agree without sharing state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

__all__ = ["MAX_POINTER", "PointerError", "anchor", "parse_pointer", "resolve"]

MAX_POINTER = 512
"""Longer references are not followed (a report never needs them)."""

_MAX_TOKENS = 32
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class PointerError(ValueError):
    """A reference that is not a JSON Pointer, or points at nothing in the report."""


def parse_pointer(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 pointer (``""`` is the whole document)."""
    if len(pointer) > MAX_POINTER:
        raise PointerError(f"reference longer than {MAX_POINTER} characters")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError("reference does not start with '/'")
    tokens = pointer[1:].split("/")
    if len(tokens) > _MAX_TOKENS:
        raise PointerError(f"reference deeper than {_MAX_TOKENS} levels")
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def anchor(*tokens: str | int) -> str:
    """The HTML id of the element showing the value at ``/tokens...``: only ``[A-Za-z0-9_-]``,
    and distinct pointers give distinct ids."""
    parts = [
        _UNSAFE.sub(lambda m: f"_{ord(m.group()):x}_", str(token).replace("_", "__"))
        for token in tokens
    ]
    return "r-" + "-".join(parts)


def _index(token: str, length: int) -> int:
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PointerError(f"'{token[:40]}' is not a list index")
    index = int(token)
    if index >= length:
        raise PointerError(f"index {index} is past the end ({length} items)")
    return index


def resolve(document: BaseModel, tokens: Sequence[str]) -> object:
    """The value ``tokens`` point to, walking models by field name, lists by index and
    mappings by key."""
    current: object = document
    for token in tokens:
        if isinstance(current, BaseModel):
            if token not in type(current).model_fields:
                raise PointerError(f"no field '{token[:40]}' in {type(current).__name__}")
            current = getattr(current, token)
        elif isinstance(current, Mapping):
            if token not in current:
                raise PointerError(f"no key '{token[:40]}'")
            current = current[token]
        elif isinstance(current, Sequence) and not isinstance(current, str):
            current = current[_index(token, len(current))]
        else:
            raise PointerError(f"'{token[:40]}' points inside a plain value")
    return current
