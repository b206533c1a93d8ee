"""Pytest plugin recording the trace inputs the tests feed the parser and the behaviour model,
with what the code of the time made of them: the corpus ``test_golden.py`` replays.

Regenerate (only when a change of the results is intended, and say so in the commit)::

    .venv/bin/python -m pytest -q -p no:cacheprovider -p tests.unit.processing.golden_capture \
        tests/unit/processing tests/unit/html tests/unit/signatures
    .venv/bin/python -m tests.unit.processing.golden --write

The first command writes ``tests/data/golden/corpus.json.gz`` (each distinct trace once, the
events the parser made of it, the behaviour the model built); the second the full reports of
``golden.py``'s cases.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aasee.processing import behaviour as behaviour_module
from aasee.processing import trace_parser

GOLDEN = Path(__file__).parents[2] / "data" / "golden"
MAX_LINES = 5000
"""Inputs longer than this are not kept (the corpus stays small)."""

_parser_cases: dict[str, dict[str, Any]] = {}
_behaviour_cases: dict[str, dict[str, Any]] = {}
_traces: dict[str, list[str]] = {}


def _trace(lines: list[bytes]) -> str:
    text = lines_text(lines)
    key = digest(text)[:16]
    _traces[key] = text
    return key


def lines_text(lines: list[bytes]) -> list[str]:
    return [line.decode("latin-1") for line in lines]


def lines_bytes(text: list[str]) -> list[bytes]:
    return [line.encode("latin-1") for line in text]


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def event_row(event: trace_parser.TraceEvent) -> list[Any]:
    return [
        event.comm,
        event.pid,
        event.tgid,
        event.cpu,
        event.ts,
        event.event,
        event.fields,
        event.probe,
        event.variant,
    ]


def behaviour_dict(result: behaviour_module.Behaviour) -> dict[str, Any]:
    return {
        "processes": [p.model_dump(mode="json") for p in result.processes],
        "process_tree": [n.model_dump(mode="json") for n in result.process_tree],
        "files": result.files.model_dump(mode="json"),
        "network": result.network.model_dump(mode="json"),
        "syscalls": result.syscalls.model_dump(mode="json"),
        "root": result.root,
        "pre_exec_dropped": result.pre_exec_dropped,
        "truncated": result.truncated,
        "errors": result.errors,
    }


class _Tagged:
    """The parser's event stream, remembering the lines it came from."""

    def __init__(self, lines: list[bytes], events: Iterator[trace_parser.TraceEvent]) -> None:
        self.golden_lines = lines
        self._events = events

    def __iter__(self) -> _Tagged:
        return self

    def __next__(self) -> trace_parser.TraceEvent:
        return next(self._events)


def _install() -> None:
    parse = trace_parser.TraceParser.parse

    @functools.wraps(parse)
    def recording_parse(self: trace_parser.TraceParser, lines: Iterable[bytes]) -> Any:
        kept = list(lines)
        if len(kept) > MAX_LINES:
            return parse(self, kept)

        def events() -> Iterator[trace_parser.TraceEvent]:
            seen = []
            for event in parse(self, kept):
                seen.append(event_row(event))
                yield event
            key = digest(lines_text(kept), self.max_line)
            _parser_cases[key] = {
                "trace": _trace(kept),
                "max_line": self.max_line,
                "events": seen,
                "stats": dataclasses.asdict(self.stats),
            }

        return _Tagged(kept, events())

    trace_parser.TraceParser.parse = recording_parse  # type: ignore[method-assign]

    builder = behaviour_module.BehaviourBuilder
    init, feed, feed_all, finish = builder.__init__, builder.feed, builder.feed_all, builder.finish
    feed_lines = builder.feed_lines

    @functools.wraps(init)
    def recording_init(self: Any, root_pid: Any, initial_cwd: Any = "/", clock: Any = None,
                       limits: Any = None, guest: Any = "x86_64") -> None:  # fmt: skip
        init(self, root_pid, initial_cwd, clock, limits, guest)
        self._golden = {
            "root_pid": root_pid,
            "initial_cwd": initial_cwd,
            "clock": None if clock is None else [clock.monotonic, clock.epoch],
            "limits": None if limits is None else dataclasses.asdict(limits),
            "guest": guest if isinstance(guest, str) else guest.arch,
            "trace": None,
            "usable": True,
        }

    @functools.wraps(feed)
    def recording_feed(self: Any, event: Any) -> None:
        self._golden["usable"] = False
        feed(self, event)

    @functools.wraps(feed_all)
    def recording_feed_all(self: Any, events: Any) -> None:
        lines = getattr(events, "golden_lines", None)
        if lines is None or self._golden["trace"] is not None:
            self._golden["usable"] = False
        else:
            self._golden["trace"] = _trace(lines)
        feed_all(self, events)

    @functools.wraps(feed_lines)
    def recording_feed_lines(self: Any, lines: Iterable[bytes], parser: Any = None) -> None:
        kept = list(lines)
        if self._golden["trace"] is not None or len(kept) > MAX_LINES:
            self._golden["usable"] = False
        else:
            self._golden["trace"] = _trace(kept)
        feed_lines(self, kept, parser)

    @functools.wraps(finish)
    def recording_finish(self: Any) -> behaviour_module.Behaviour:
        result = finish(self)
        case = self._golden
        if case["usable"] and case["trace"] is not None:
            inputs = {k: v for k, v in case.items() if k != "usable"}
            _behaviour_cases[digest(inputs)] = dict(inputs, behaviour=behaviour_dict(result))
        return result

    builder.__init__ = recording_init  # type: ignore[method-assign]
    builder.feed = recording_feed  # type: ignore[method-assign]
    builder.feed_all = recording_feed_all  # type: ignore[method-assign]
    builder.feed_lines = recording_feed_lines  # type: ignore[method-assign]
    builder.finish = recording_finish  # type: ignore[method-assign]


def write_corpus() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    corpus = {
        "traces": _traces,
        "parser": [_parser_cases[key] for key in sorted(_parser_cases)],
        "behaviour": [_behaviour_cases[key] for key in sorted(_behaviour_cases)],
    }
    data = json.dumps(corpus, sort_keys=True, separators=(",", ":")).encode()
    (GOLDEN / "corpus.json.gz").write_bytes(gzip.compress(data, 9, mtime=0))


def pytest_configure(config: pytest.Config) -> None:
    _install()


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_corpus()
