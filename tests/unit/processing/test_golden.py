"""Postprocessing gives what it gave before it was made fast: the parser's events, the
behaviour model and whole reports, compared with goldens recorded from the earlier code
(``tests/data/golden/``; see ``golden_capture.py`` and ``golden.py`` for how they were made).

The corpus holds every trace the unit tests fed the parser and the behaviour model when the
goldens were recorded (hostile, mutated and per-architecture traces included).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from aasee.processing.behaviour import BehaviourBuilder, Limits, build_behaviour
from aasee.processing.clock import GuestClock
from aasee.processing.trace_parser import TraceParser, parse_trace

from .golden import CASES, GOLDEN, build, golden_report
from .golden_capture import behaviour_dict, event_row, lines_bytes


@cache
def corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress((GOLDEN / "corpus.json.gz").read_bytes()))
    return data


def _json(value: Any) -> Any:
    """As it went through JSON when the golden was written (tuples become lists...)."""
    return json.loads(json.dumps(value))


def test_corpus_is_not_empty() -> None:
    assert len(corpus()["parser"]) > 100
    assert len(corpus()["behaviour"]) > 50


def test_parser_gives_the_same_events() -> None:
    traces = corpus()["traces"]
    for case in corpus()["parser"]:
        parser = TraceParser(case["max_line"])
        events = [event_row(event) for event in parser.parse(lines_bytes(traces[case["trace"]]))]
        assert _json(events) == case["events"], case["trace"]
        assert _json(dataclasses.asdict(parser.stats)) == case["stats"], case["trace"]


def _builder(case: dict[str, Any]) -> BehaviourBuilder:
    clock = GuestClock(*case["clock"]) if case["clock"] is not None else None
    limits = Limits(**case["limits"]) if case["limits"] is not None else None
    return BehaviourBuilder(case["root_pid"], case["initial_cwd"], clock, limits, case["guest"])


@pytest.mark.parametrize("path", ["events", "lines"])
def test_behaviour_model_gives_the_same_behaviour(path: str) -> None:
    """Through the public event API and through the path the pipeline takes (lines)."""
    traces = corpus()["traces"]
    for case in corpus()["behaviour"]:
        lines = lines_bytes(traces[case["trace"]])
        builder = _builder(case)
        if path == "events":
            builder.feed_all(parse_trace(lines))
        else:
            builder.feed_lines(lines, TraceParser())
        assert _json(behaviour_dict(builder.finish())) == case["behaviour"], case["trace"]


def test_build_behaviour_is_the_builder() -> None:
    case = corpus()["behaviour"][0]
    lines = lines_bytes(corpus()["traces"][case["trace"]])
    built = _builder(case)
    built.feed_lines(lines, TraceParser())
    direct = build_behaviour(
        parse_trace(lines),
        case["root_pid"],
        case["initial_cwd"],
        built._clock,
        built.limits,
        built.guest,
    )
    assert behaviour_dict(direct) == behaviour_dict(built.finish())


def _missing(report: Any, golden: Any, where: str = "") -> list[str]:
    """Where ``golden`` is not in ``report``: every value equal, every key present (fields and
    sections other work added since the goldens were recorded are allowed)."""
    if isinstance(golden, dict) and isinstance(report, dict):
        found = []
        for key, value in golden.items():
            if key not in report:
                found.append(f"{where}/{key}: missing")
            else:
                found += _missing(report[key], value, f"{where}/{key}")
        return found
    if isinstance(golden, list) and isinstance(report, list):
        if len(golden) != len(report):
            return [f"{where}: {len(report)} entries, the golden has {len(golden)}"]
        return [
            m
            for i, (r, g) in enumerate(zip(report, golden, strict=True))
            for m in _missing(r, g, f"{where}/{i}")
        ]
    return [] if report == golden else [f"{where}: {report!r} != {golden!r}"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_reports_are_the_golden_ones(name: str, tmp_path: Path) -> None:
    out = build(name, tmp_path)
    report = json.loads((out / "report.json").read_text("utf-8"))
    assert _missing(report, golden_report(name)) == []
    assert "paged" not in report  # nothing is long enough to be cut
