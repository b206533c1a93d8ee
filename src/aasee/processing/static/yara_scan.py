"""YARA scanning with the bundled rule set and the operator's own rules.

Owns :func:`load_rules` and :class:`YaraRules`. The bundled rules (``rules/*.yar``, written
for AASEE) are compiled once per process, one namespace per file. User rules are every
``*.yar``/``*.yara`` in a directory, in namespace ``user``: each file is compiled alone first,
so one broken file is reported and skipped instead of taking the others (and the bundled
set) down with it. Rules may use the externals ``filename``, ``filepath``, ``extension``,
``filetype`` and ``owner`` that other rule sets expect; they are set for each scan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yara  # type: ignore[import-not-found]

from .models import YaraMatch, YaraString

__all__ = [
    "MAX_MATCHES",
    "MAX_STRINGS_PER_MATCH",
    "SCAN_TIMEOUT",
    "YaraRules",
    "YaraScanError",
    "bundled_rules",
    "load_rules",
]

logger = logging.getLogger(__name__)

SCAN_TIMEOUT = 60
"""Seconds one rule set may spend on one file."""
MAX_MATCHES = 256
MAX_STRINGS_PER_MATCH = 16
_DATA_SHOWN = 64
_EXTERNALS = {"filename": "", "filepath": "", "extension": "", "filetype": "", "owner": ""}
_SUFFIXES = (".yar", ".yara")


class YaraScanError(RuntimeError):
    """A rule set could not finish scanning a file (timeout, YARA internal error)."""


@dataclass(frozen=True)
class _RuleSet:
    rules: Any
    source: str
    label: str


@dataclass
class YaraRules:
    """Compiled rule sets and the problems met while loading them."""

    sets: list[_RuleSet] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rule_count(self) -> int:
        return sum(sum(1 for _ in s.rules) for s in self.sets)

    def scan(
        self, data: bytes, errors: list[str] | None = None, *, name: str = ""
    ) -> list[YaraMatch]:
        """Every rule matching ``data``, bundled first.

        A rule set that fails (timeout, too many matches) costs only its own matches: the
        problem is appended to ``errors`` if given, else raised as :class:`YaraScanError`
        once every set has run. ``name`` fills the ``filename``/``extension`` externals.
        """
        problems: list[str] = []
        found: list[YaraMatch] = []
        externals = dict(_EXTERNALS, filename=name, filepath=name)
        if "." in name:
            externals["extension"] = name.rsplit(".", 1)[1].lower()
        for rule_set in self.sets:
            warnings: list[str] = []

            def warn(kind: int, message: Any, *, _warnings: list[str] = warnings) -> int:
                if kind == yara.CALLBACK_TOO_MANY_MATCHES:
                    rule = getattr(message, "rule", "?")
                    string = getattr(message, "string", "?")
                    _warnings.append(f"{rule} {string}")
                return yara.CALLBACK_CONTINUE  # type: ignore[no-any-return]

            try:
                matches = rule_set.rules.match(
                    data=data,
                    timeout=SCAN_TIMEOUT,
                    externals=externals,
                    warnings_callback=warn,
                )
            except yara.TimeoutError:
                problems.append(f"YARA {rule_set.label}: scan timed out after {SCAN_TIMEOUT} s")
                continue
            except yara.Error as exc:
                problems.append(f"YARA {rule_set.label}: scan failed: {exc}")
                continue
            if warnings:
                problems.append(
                    f"YARA {rule_set.label}: strings with too many matches, counted only in "
                    f"part: {', '.join(warnings[:5])}"
                )
            found.extend(_match(m, rule_set.source) for m in matches)
        if len(found) > MAX_MATCHES:
            problems.append(f"YARA: {len(found)} rules matched, first {MAX_MATCHES} kept")
            del found[MAX_MATCHES:]
        if problems and errors is None:
            raise YaraScanError("; ".join(problems))
        if errors is not None:
            errors.extend(problems)
        return found


def _show(data: bytes) -> str:
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data[:_DATA_SHOWN]
    )
    return text + ("…" if len(data) > _DATA_SHOWN else "")


def _meta(meta: dict[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in meta.items()}


def _match(match: Any, source: str) -> YaraMatch:
    strings: list[YaraString] = []
    for string in match.strings:
        for instance in string.instances:
            if len(strings) >= MAX_STRINGS_PER_MATCH:
                break
            strings.append(
                YaraString(
                    identifier=str(string.identifier),
                    offset=int(instance.offset),
                    data=_show(bytes(instance.matched_data)),
                )
            )
    return YaraMatch(
        rule=str(match.rule),
        namespace=str(match.namespace),
        source="user" if source == "user" else "bundled",
        tags=[str(tag) for tag in match.tags],
        meta=_meta(match.meta),
        strings=strings,
    )


@lru_cache(maxsize=1)
def _bundled() -> Any:
    folder = resources.files(__package__).joinpath("rules")
    sources = {
        entry.name.rsplit(".", 1)[0]: entry.read_text("utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yar")
    }
    return yara.compile(sources=sources, externals=_EXTERNALS, includes=False)


def bundled_rules() -> YaraRules:
    """The bundled rule set alone."""
    return YaraRules(sets=[_RuleSet(_bundled(), "bundled", "bundled rules")])


def _user_files(folder: Path, errors: list[str]) -> list[Path]:
    if not folder.is_dir():
        errors.append(f"user YARA rules directory {folder} does not exist; no user rules loaded")
        return []
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        errors.append(f"user YARA rules directory {folder} unreadable: {exc}")
        return []
    return [p for p in entries if p.suffix.lower() in _SUFFIXES and p.is_file()]


def _compile_user(path: Path) -> Any:
    return yara.compile(filepaths={"user": str(path)}, externals=_EXTERNALS, includes=True)


def _combined(paths: Iterable[Path]) -> Any:
    lines = []
    for path in paths:
        quoted = str(path.resolve()).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'include "{quoted}"')
    return yara.compile(
        sources={"user": "\n".join(lines) + "\n"}, externals=_EXTERNALS, includes=True
    )


def load_rules(user_dir: Path | None = None) -> YaraRules:
    """The bundled rules plus every ``*.yar``/``*.yara`` file in ``user_dir``.

    Never raises on a rule file: a file that does not compile is left out and named in
    ``errors`` with YARA's message (file, line, problem). Bundled rules failing to compile
    is a packaging defect and does raise.
    """
    loaded = bundled_rules()
    if user_dir is None:
        return loaded
    good: list[tuple[Path, Any]] = []
    for path in _user_files(Path(user_dir), loaded.errors):
        try:
            good.append((path, _compile_user(path)))
        except yara.Error as exc:
            loaded.errors.append(f"user YARA rule file {path.name} skipped: {exc}")
    if len(good) > 1:
        # One compiled set scans the file once; files that only clash with each other (the
        # same rule name twice) are kept apart instead.
        try:
            loaded.sets.append(_RuleSet(_combined(p for p, _ in good), "user", "user rules"))
            return loaded
        except yara.Error as exc:
            logger.info("user YARA files do not compile together (%s); scanning each alone", exc)
    loaded.sets.extend(_RuleSet(rules, "user", f"user rules {p.name}") for p, rules in good)
    return loaded
