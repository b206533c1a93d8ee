"""Work handed to forked children gives what the same work gives in one process: the trace
parsed by a second process (``trace_worker``), the signature rules shared with a child
(``signatures.engine``), the files of the long lists made by a child (``pipeline``); and when
a child fails, the work is done in the parent instead, to the same result."""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from aasee.processing import forking, pipeline, trace_worker
from aasee.processing.behaviour import BehaviourBuilder, Limits
from aasee.processing.pipeline import context_for_directory, process_directory, run_plugins
from aasee.processing.run_meta import read_run_meta
from aasee.processing.signatures import engine
from aasee.processing.signatures.engine import run_signatures
from aasee.processing.trace_parser import TraceParser, read_trace_lines
from aasee.processing.trace_worker import Batch, OffloadFailed, parsed_batches, produce

from .golden_capture import behaviour_dict
from .test_fast_paths import ROOT, random_trace
from .tracegen import bench_results

LIMITS = Limits(records=50, calls_per_task=4, fds_per_process=8)


def _trace_file(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"trace-{seed}.log"
    path.write_bytes(b"\n".join(random_trace(seed)) + b"\n")
    return path


def _by_lines(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    builder = BehaviourBuilder(ROOT, "/", None, LIMITS)
    parser = TraceParser()
    builder.feed_lines(read_trace_lines(path), parser)
    return behaviour_dict(builder.finish()), dataclasses.asdict(parser.stats)


def _by_batches(batches: list[Batch] | Any) -> tuple[dict[str, Any], dict[str, Any]]:
    builder = BehaviourBuilder(ROOT, "/", None, LIMITS)
    parser = TraceParser()
    builder.feed_batches(batches, parser)
    return behaviour_dict(builder.finish()), dataclasses.asdict(parser.stats)


@pytest.mark.parametrize("seed", range(40))
def test_batches_give_the_model_the_lines_give(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks and tables, so that a trace makes many batches and the tables start
    over; the batches go through pickle as they do between the processes."""
    monkeypatch.setattr(trace_worker, "_TABLE_MAX", 1 + seed % 7)
    path = _trace_file(tmp_path, seed)
    chunk = random.Random(seed).choice([97, 512, 4096, 1 << 20])
    monkeypatch.setattr("aasee.processing.trace_parser._READ_CHUNK", chunk)
    batches: list[Batch] = []
    produce(path, lambda batch: batches.append(pickle.loads(pickle.dumps(batch, -1))))
    assert len(batches) > 1
    assert _by_batches(batches) == _by_lines(path)


def test_the_forked_parse_gives_the_same_model(tmp_path: Path) -> None:
    path = _trace_file(tmp_path, 3)
    assert _by_batches(parsed_batches(path)) == _by_lines(path)


def test_a_parse_that_fails_in_the_child_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, send: Any) -> None:
        raise RuntimeError("no luck")

    monkeypatch.setattr(trace_worker, "produce", broken)
    with pytest.raises(OffloadFailed, match="no luck"):
        list(parsed_batches(_trace_file(tmp_path, 1)))


def test_a_child_that_dies_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_worker, "produce", lambda path, send: os._exit(3))
    with pytest.raises(OffloadFailed, match="stopped"):
        list(parsed_batches(_trace_file(tmp_path, 1)))


def test_no_fork_no_offload(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 16)
    monkeypatch.setattr(trace_worker, "MIN_SIZE", 8)
    assert trace_worker.worth_offloading(path)
    monkeypatch.setenv("AASEE_SINGLE_PROCESS", "1")
    assert not trace_worker.worth_offloading(path)


def _files(out: Path) -> dict[str, bytes]:
    names = ["report.json", "report.html", *(f"report/{p.name}" for p in out.glob("report/*"))]
    return {name: (out / name).read_bytes() for name in sorted(names)}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A results directory postprocessed in one process."""
    out = tmp_path_factory.mktemp("single") / "results"
    bench_results(out, workers=300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AASEE_SINGLE_PROCESS", "1")
        patch.setenv("AASEE_YARA_RULES", str(out / "no-user-rules"))
        process_directory(out)
    return _files(out)


def _forking(monkeypatch: pytest.MonkeyPatch, out: Path) -> None:
    """Every helper process on, however small the run."""
    monkeypatch.delenv("AASEE_SINGLE_PROCESS", raising=False)
    monkeypatch.setenv("AASEE_YARA_RULES", str(out / "no-user-rules"))
    monkeypatch.setattr(trace_worker, "MIN_SIZE", 0)
    monkeypatch.setattr(engine, "PARALLEL_RECORDS", 0)
    monkeypatch.setattr(pipeline._Cutting, "MIN_RECORDS", 0)


def test_helpers_give_the_same_reports(
    single: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    bench_results(out, workers=300)
    _forking(monkeypatch, out)
    forks = 0
    fork = os.fork

    def counting() -> int:
        nonlocal forks
        forks += 1
        return fork()

    monkeypatch.setattr(os, "fork", counting)
    process_directory(out)
    assert forks == 3  # the parse, the long lists' files, the rules
    assert _files(out) == single


def test_failing_helpers_cost_nothing_but_time(
    single: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children that die at once: the parent does all the work, to the same reports."""
    out = tmp_path / "results"
    bench_results(out, workers=300)
    _forking(monkeypatch, out)
    fork = os.fork

    def dying() -> int:
        pid = fork()
        if pid == 0:
            os._exit(7)
        return pid

    monkeypatch.setattr(os, "fork", dying)
    process_directory(out)
    assert _files(out) == single


def test_no_fork_at_all(
    single: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    bench_results(out, workers=300)
    _forking(monkeypatch, out)

    def refused() -> int:
        raise OSError("no more processes")

    monkeypatch.setattr(os, "fork", refused)
    process_directory(out)
    assert _files(out) == single


def test_rules_shared_with_a_child_match_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    bench_results(out, workers=40)
    context = context_for_directory(out, read_run_meta(out))
    run_plugins(context, pipeline.all_plugins()[:-2])  # all but signatures and score
    report = context.report()
    monkeypatch.setenv("AASEE_SINGLE_PROCESS", "1")
    alone = run_signatures(report)
    monkeypatch.delenv("AASEE_SINGLE_PROCESS")
    monkeypatch.setattr(engine, "PARALLEL_RECORDS", 0)
    assert run_signatures(report) == alone
    assert alone[0]  # something matched

    # A child that fails part way: the parent runs what it did not report.
    parent = os.getpid()
    run_one = engine._run_one

    def fragile(signature: Any, ctx: Any) -> Any:
        if os.getpid() != parent:
            os._exit(5)
        return run_one(signature, ctx)

    monkeypatch.setattr(engine, "_run_one", fragile)
    assert run_signatures(report) == alone


def test_forked_work_and_its_failures() -> None:
    assert forking.start_forked(lambda: {"answer": 42}).result() == {"answer": 42}

    def failing() -> None:
        raise ValueError("bad input")

    with pytest.raises(OffloadFailed, match="bad input"):
        forking.start_forked(failing).result()
    with pytest.raises(OffloadFailed, match="no answer"):
        forking.start_forked(lambda: __import__("time").sleep(30)).result(stall=0.2)


def test_a_defect_of_the_model_stops_the_trace_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the model raises while a second process parses is not retried (an interruption
    such as the worker's Overdue must not start the parse over): the trace stops there, said
    in the report's errors, with the lines read up to the end of that chunk."""
    out = tmp_path / "results"
    bench_results(out, workers=60)
    _forking(monkeypatch, out)
    monkeypatch.setattr("aasee.processing.trace_parser._READ_CHUNK", 64 << 10)
    execs = 0
    exec_ = BehaviourBuilder._exec

    def failing(self: BehaviourBuilder, event: Any) -> None:
        nonlocal execs
        execs += 1
        if execs == 30:
            raise KeyError("boom")
        exec_(self, event)

    monkeypatch.setattr(BehaviourBuilder, "_exec", failing)
    fed_lines = []
    monkeypatch.setattr(BehaviourBuilder, "feed_lines", lambda self, *args: fed_lines.append(args))
    data = process_directory(out).data
    assert not fed_lines
    [error] = [e for e in data["errors"] if e.startswith("trace processing stopped")]
    lines = int(error.split()[5].rstrip(":"))
    # the end of the chunk it stopped in, where the stats stop too
    assert 0 < lines == data["analysis"]["trace"]["lines"]
    assert lines < len((out / "trace.log").read_bytes().splitlines())
    assert "KeyError: 'boom'" in error
    assert execs == 30


def test_syscall_pairs_before_and_after_the_exec(tmp_path: Path) -> None:
    """An entry and its exit on consecutive lines travel as one record: before the sample's
    exec (the agent's chdir, others' calls), around probes, with threads and in every ABI."""
    from .tracegen import Trace

    t = Trace()
    t.syscall(ROOT, 80, [0x1000], 0, comm="python3")  # the agent's chdir: a pair
    t.add(ROOT, "chdir", 'path="/srv"', comm="python3")
    t.syscall(ROOT, 80, [0x1000], -2, comm="python3")  # a failing one
    t.syscall(ROOT + 9, 1, [1, 0, 4], 4, comm="other")
    t.enter(ROOT, 59, comm="python3")
    t.exec(ROOT, "/tmp/sample", ["/tmp/sample"])
    t.leave(ROOT, 59, 0)
    for i in range(30):
        t.syscall(ROOT, 257, [0xFFFFFF9C, 0, 0x241], 3)  # a pair whose exit opens fd 3
        t.open(ROOT, f"/tmp/f{i}", flags=0x8241)
        t.syscall(ROOT, 3, [3], 0)  # close: a pair with effects
        t.syscall(ROOT, 1, [3, 0, 1], -9)  # a pair that fails
        t.enter(ROOT, 0, [0, 0, 1])
        t.syscall(ROOT + 1, 39, [], ROOT + 1, tgid=ROOT)  # a thread's pair between
        t.leave(ROOT, 0, 1)
        t.syscall(ROOT, 1, [1, 0, 1], 1)
        t.enter(ROOT, 2, [0, 0, 0])
        t.leave(ROOT, 3, 4)  # an exit of another number: no pair
    path = tmp_path / "pairs.log"
    path.write_bytes(b"\n".join(t.lines) + b"\n")
    batches: list[Batch] = []
    produce(path, batches.append)
    assert any(type(b).__name__ == "SysPair" for batch in batches for b in batch.bodies)
    assert any(len(o) == 10 for batch in batches for o in batch.others)  # open with open_r
    assert _by_batches(batches) == _by_lines(path)
