"""Static analysis of one file: the sample, or a file it dropped.

Owns :func:`analyse_file` and :func:`analyse_bytes`, which run every part of the package on a
file and put the results in a :class:`~.models.StaticAnalysis`. The hashes always name the
whole file; everything else looks at its first ``max_bytes`` (``truncated`` says when that is
less than the file). Nothing in a file's content makes these raise: a part that fails is
named in ``errors`` and the other parts still run.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..text import clean_text
from .elf import analyse_elf
from .entropy import shannon_entropy
from .hashes import Digests, Hasher, digests_of, fuzzy_hash
from .models import StaticAnalysis, StringsInfo, YaraMatch
from .pe import analyse_pe
from .scripts import analyse_script
from .strings import analyse_strings
from .yara_scan import YaraRules, bundled_rules

__all__ = ["DEFAULT_MAX_BYTES", "analyse_bytes", "analyse_file"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 << 20
"""Bytes of a file analysed beyond hashing."""
_MAGIC_PEEK = 1 << 20
_NAME_LIMIT = 1024
_READ_CHUNK = 1 << 20

T = TypeVar("T")


def _guarded(errors: list[str], what: str, run: Callable[[], T], default: T) -> T:
    try:
        return run()
    except Exception as exc:
        # Hostile content can still break a parser in a way nobody foresaw; it must cost this
        # part only.
        logger.debug("%s failed", what, exc_info=True)
        errors.append(f"{what} failed: {type(exc).__name__}: {exc}")
        return default


def _magic(head: bytes, mime: bool) -> str:
    import magic

    return str(magic.from_buffer(head, mime=mime))


def _analyse(
    data: bytes, digests: Digests, name: str, rules: YaraRules | None, truncated: bool
) -> StaticAnalysis:
    errors: list[str] = []
    entropy = shannon_entropy(data)
    head = data[:_MAGIC_PEEK]
    file_type = _guarded(errors, "file type detection", lambda: _magic(head, False), None)
    mime = _guarded(errors, "MIME type detection", lambda: _magic(head, True), None)
    elf = _guarded(errors, "ELF analysis", lambda: analyse_elf(data, errors, entropy), None)
    pe = None
    script = None
    if elf is None:
        pe = _guarded(errors, "PE analysis", lambda: analyse_pe(data, errors), None)
    if elf is None and pe is None:
        script = _guarded(errors, "script analysis", lambda: analyse_script(data, mime), None)
    strings = _guarded(errors, "string extraction", lambda: analyse_strings(data), StringsInfo())
    scanner = rules if rules is not None else bundled_rules()
    no_matches: list[YaraMatch] = []
    yara = _guarded(errors, "YARA scan", lambda: scanner.scan(data, errors, name=name), no_matches)
    # The fuzzy hash of a prefix would not compare with the file's hash elsewhere.
    ssdeep = None if truncated else _guarded(errors, "ssdeep", lambda: fuzzy_hash(data), None)
    return StaticAnalysis(
        name=clean_text(name)[:_NAME_LIMIT],
        size=digests.size,
        md5=digests.md5,
        sha1=digests.sha1,
        sha256=digests.sha256,
        ssdeep=ssdeep,
        type=file_type,
        mime=mime,
        entropy=entropy,
        analysed_bytes=len(data),
        truncated=truncated,
        elf=elf,
        pe=pe,
        script=script,
        strings=strings,
        yara=yara,
        errors=errors,
    )


def analyse_bytes(
    data: bytes,
    *,
    name: str,
    rules: YaraRules | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> StaticAnalysis:
    """Static analysis of ``data``; ``rules`` defaults to the bundled YARA rules."""
    return _analyse(data[:max_bytes], digests_of(data), name, rules, len(data) > max_bytes)


def analyse_file(
    path: Path,
    *,
    name: str | None = None,
    rules: YaraRules | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> StaticAnalysis:
    """Static analysis of the regular file at ``path`` (a host path the caller chose).

    ``name`` is what the report calls the file (default: its base name). Raises
    :class:`OSError` if the file cannot be read and :class:`ValueError` if it is not a
    regular file (a FIFO or device would block or never end); never on its content.
    """
    hasher = Hasher()
    chunks: list[bytes] = []
    kept = 0
    with open(path, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path} is not a regular file; only regular files are analysed")
        while chunk := handle.read(_READ_CHUNK):
            hasher.update(chunk)
            if kept < max_bytes:
                chunks.append(chunk[: max_bytes - kept])
                kept += len(chunks[-1])
    digests = hasher.digests()
    label = name if name is not None else os.fsdecode(Path(path).name)
    data = b"".join(chunks)
    chunks.clear()  # not two copies of up to max_bytes for the whole analysis
    return _analyse(data, digests, label, rules, digests.size > kept)
