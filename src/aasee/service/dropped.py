"""Dropped files: what the sample's processes wrote, fetched from the guest before power-off.

Owns the choice of which guest paths count as dropped (written, created, renamed to or
linked by the sample's processes, as the kernel trace recorded them; not ``/dev``, ``/proc``
or ``/sys``), their collection through the agent within a count, a byte and a time budget
(the VM slot is held meanwhile), and ``dropped/`` in the results directory: each collected
content stored under its SHA-256 (never under a name that came from the guest) and
``manifest.json``, one entry per path with the fields of the report's ``DroppedFile`` except
``static``.

Everything here is driven by hostile data (trace and agent answers): failures are recorded
per file or appended to ``errors``, never raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from aasee.core import Event, Hook, HookParameters
from aasee.guest.client import AgentClient, AgentError, GuestFile
from aasee.guest.protocol import MAX_GET_BYTES
from aasee.hooks._util import results_dir
from aasee.processing.atomic import write_atomic
from aasee.processing.behaviour import Behaviour, BehaviourBuilder
from aasee.processing.models import DroppedFile, FileAccess, FileCreate, FileLink
from aasee.processing.trace_parser import TraceEvent, TraceParser, read_trace_lines

log = logging.getLogger(__name__)

DROPPED_DIR = "dropped"
MANIFEST = "manifest.json"
SKIPPED_PREFIXES = ("/dev/", "/proc/", "/sys/")
GONE = "gone before collection"
MAX_ERROR = 500
# Like the other artefacts of a run: readable, and a stored sample is never executable.
ARTEFACT_MODE = 0o644
# The trace scan may use this share of the time limit; the rest is for fetching.
SCAN_SHARE = 0.5


class DroppedLimits(BaseModel):
    """The collection budget, settable in the generic hooks configuration (``--hooks``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    dropped_file_cap: int = Field(default=16 << 20, ge=0, le=MAX_GET_BYTES)
    dropped_total_cap: int = Field(default=128 << 20, ge=0)
    dropped_max_files: int = Field(default=200, ge=0, le=100_000)
    dropped_time_limit: float = Field(default=10.0, ge=0, le=600)


def dropped_limits(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """``collect_dropped`` keyword arguments from a hooks configuration's generic part.

    Raises ``ValueError`` naming the setting when one is out of range.
    """
    limits = DroppedLimits.model_validate(dict(configuration))
    return {
        "per_file_cap": limits.dropped_file_cap,
        "total_cap": limits.dropped_total_cap,
        "max_files": limits.dropped_max_files,
        "time_limit": limits.dropped_time_limit,
    }


@dataclass
class Candidate:
    """A guest path the sample's processes left behind, and who wrote it last."""

    path: str
    pid: int | None
    process: str | None
    time: float
    priority: int = 3


def collect_dropped(
    agent: AgentClient,
    out_dir: Path,
    root_pid: int | None,
    initial_cwd: str,
    *,
    per_file_cap: int = 16 << 20,
    total_cap: int = 128 << 20,
    max_files: int = 200,
    time_limit: float = 10.0,
    errors: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Fetch the files the sample wrote into ``out_dir/dropped/`` and write its manifest.

    Reads ``out_dir/trace.log`` as far as it has been written. Returns the manifest entries;
    problems that concern the collection as a whole (not one file) are appended to
    ``errors`` when given, and logged.
    """
    started = time.monotonic()
    deadline = started + time_limit
    problems: list[str] = []
    _log_trace_lag(out_dir / "trace.log", agent.trace_bytes)
    candidates = _scan(out_dir / "trace.log", root_pid, initial_cwd, problems, started, time_limit)
    chosen = candidates[:max_files]
    if len(candidates) > max_files:
        problems.append(
            f"{len(candidates) - max_files} more written files were not collected: "
            f"the limit is {max_files} files"
        )
    store = out_dir / DROPPED_DIR
    store.mkdir(parents=True, exist_ok=True)
    entries = _fetch_all(agent, chosen, store, per_file_cap, total_cap, deadline, time_limit)
    _write_json(store / MANIFEST, entries)
    collected = sum(e["collected"] for e in entries)
    log.info(
        "dropped files: %d of %d paths collected (%d bytes) in %.2f s",
        sum(1 for e in entries if e["stored_as"]),
        len(entries),
        collected,
        time.monotonic() - started,
    )
    for problem in problems:
        log.warning("dropped files: %s", problem)
    if errors is not None:
        errors.extend(f"dropped files: {p}" for p in problems)
    return entries


def _log_trace_lag(trace: Path, streamed: int) -> None:
    # The tracer is still running and its file is buffered: what it has not written out yet
    # cannot name files, so say how much that was.
    try:
        on_disk = trace.stat().st_size
    except OSError:
        on_disk = 0
    log.info(
        "dropped files: scanning trace.log with %d of the %d trace bytes streamed so far",
        on_disk,
        streamed,
    )


# --- which paths ---------------------------------------------------------------------------
def _scan(
    trace: Path,
    root_pid: int | None,
    initial_cwd: str,
    problems: list[str],
    started: float,
    time_limit: float,
) -> list[Candidate]:
    if not trace.is_file():
        problems.append("no kernel trace, so no written files are known")
        return []
    parser = TraceParser()
    builder = BehaviourBuilder(root_pid, initial_cwd)
    scan_deadline = started + time_limit * SCAN_SHARE
    try:
        builder.feed_all(_until(parser.parse(read_trace_lines(trace)), scan_deadline, problems))
    except OSError as exc:
        problems.append(f"kernel trace unreadable: {exc}")
    except Exception as exc:
        # A defect met on hostile input must cost part of the list, not the collection.
        log.exception("trace scan for dropped files failed")
        problems.append(
            f"trace scan stopped after line {parser.stats.lines}: {type(exc).__name__}: {exc}"
        )
    try:
        behaviour = builder.finish()
    except Exception as exc:
        log.exception("behaviour model for dropped files failed")
        problems.append(f"behaviour model failed: {type(exc).__name__}: {exc}")
        return []
    return dropped_candidates(behaviour)


def _until(
    events: Iterable[TraceEvent], deadline: float, problems: list[str]
) -> Iterator[TraceEvent]:
    for index, event in enumerate(events):
        if index % 4096 == 0 and time.monotonic() > deadline:
            problems.append(
                "the trace is too long to scan within the collection time limit: files "
                f"written after its first {index} events were not collected"
            )
            return
        yield event


def _kept(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith(SKIPPED_PREFIXES)
        and path not in ("/dev", "/proc", "/sys")
    )


def dropped_candidates(behaviour: Behaviour) -> list[Candidate]:
    """The paths the sample's processes wrote, created, renamed to or linked, best first.

    Events are replayed in trace order, so a file written then renamed is listed under its
    new name only (keeping its writer), and directory renames move the files under them.
    Files later deleted stay listed: the guest says they are gone. Executed and chmod-ed
    files come first, so a flood of junk files cannot push the payload out of the limit.
    """
    files = behaviour.files
    # (time, order, kind, path, new path, pid, process)
    steps: list[tuple[float, int, str, str, str, int, str]] = []
    writes: list[FileAccess | FileCreate | FileLink] = [*files.written, *files.created]
    for write in [*writes, *files.links]:
        if write.ok is not False:
            steps.append((write.time, 0, "write", write.path, "", write.pid, write.process))
    for rename in files.renamed:
        if rename.ok is not False:
            steps.append(
                (rename.time, 1, "rename", rename.src, rename.dst, rename.pid, rename.process)
            )
    steps.sort(key=lambda step: (step[0], step[1]))
    found: dict[str, Candidate] = {}
    renamed_to: set[str] = set()
    for ts, _, kind, raw_path, raw_new, pid, process in steps:
        path, new = posixpath.normpath(raw_path), posixpath.normpath(raw_new or "/")
        if kind == "write":
            found[path] = Candidate(path, pid, process, ts)
            continue
        inside = path.rstrip("/") + "/"
        moved = [p for p in found if p == path or p.startswith(inside)]
        for old in moved:
            candidate = found.pop(old)
            candidate.path = new + old[len(path) :]
            found[candidate.path] = candidate
        if not moved:
            found[new] = Candidate(new, pid, process, ts)
        renamed_to.add(new)
    executed = {p.image for p in behaviour.processes if p.image}
    executed |= {e.filename for p in behaviour.processes for e in p.execs}
    chmodded = {c.path for c in files.chmod if c.path and c.ok is not False}
    for candidate in found.values():
        if candidate.path in executed:
            candidate.priority = 0
        elif candidate.path in chmodded:
            candidate.priority = 1
        elif candidate.path in renamed_to:
            candidate.priority = 2
    kept = [c for c in found.values() if _kept(c.path)]
    return sorted(kept, key=lambda c: (c.priority, c.time, c.path))


# --- fetching ------------------------------------------------------------------------------
def _entry(candidate: Candidate) -> dict[str, Any]:
    return {
        "path": candidate.path,
        "size": 0,
        "collected": 0,
        "truncated": False,
        "md5": None,
        "sha1": None,
        "sha256": None,
        "stored_as": None,
        "pid": candidate.pid,
        "process": candidate.process,
        "error": None,
    }


def _fetch_all(
    agent: AgentClient,
    candidates: list[Candidate],
    store: Path,
    per_file_cap: int,
    total_cap: int,
    deadline: float,
    time_limit: float,
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    budget = max(0, total_cap)
    stopped: str | None = None
    for candidate in candidates:
        entry = _entry(candidate)
        entries.append(entry)
        left = deadline - time.monotonic()
        if stopped is None and left <= 0:
            stopped = f"not collected: the {time_limit:g} s collection time limit was reached"
        if stopped is not None:
            entry["error"] = stopped
            continue
        cap = max(0, min(per_file_cap, budget))
        try:
            got = agent.get_file(candidate.path, cap, timeout=left)
        except TimeoutError:
            entry["error"] = f"not collected: no answer within {left:.1f} s"
            # The agent is still busy with this file and serves requests in order.
            stopped = "not collected: an earlier file timed out and the agent was still busy"
            continue
        except (AgentError, ValueError) as exc:
            entry["error"] = str(exc)[:MAX_ERROR]
            continue
        budget -= _record(entry, got, store, cap, total_cap)
    return entries


def _record(entry: dict[str, Any], got: GuestFile, store: Path, cap: int, total_cap: int) -> int:
    """Fill ``entry`` from the guest's answer, store the content; returns the bytes kept."""
    entry["size"] = got.size
    if not got.exists:
        entry["error"] = GONE
        return 0
    if got.kind != "file":
        what = "a symbolic link, not followed" if got.kind == "symlink" else f"a {got.kind}"
        entry["error"] = f"not a regular file ({what}): not read"
        return 0
    entry["truncated"] = got.truncated
    if cap == 0 and got.truncated:
        entry["error"] = f"not collected: the total cap of {total_cap} bytes was reached"
        return 0
    data = got.data
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        _store(store, sha256, data)
    except OSError as exc:
        entry["error"] = f"collected but not stored on the host: {exc}"[:MAX_ERROR]
        return 0
    entry.update(
        collected=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=sha256,
        stored_as=sha256,
    )
    return len(data)


def _store(store: Path, sha256: str, data: bytes) -> None:
    target = store / sha256
    if target.is_file():
        return  # content-addressed: the same bytes are already there
    write_atomic(target, data, ARTEFACT_MODE)


def _write_json(path: Path, entries: list[dict[str, Any]]) -> None:
    checked = [DroppedFile.model_validate(e).model_dump(exclude={"static"}) for e in entries]
    write_atomic(path, json.dumps(checked, indent=2), ARTEFACT_MODE)


class DroppedFilesHook(Hook):
    """Collects the dropped files once the run is over, before the VM is powered off.

    It runs after the tracer stopped (loaded after it, so its ``pre_poweroff`` comes later):
    the trace it scans for written paths is then complete. configuration: ``results_dir``
    and the limits of ``DroppedLimits``.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"agent_channel"})

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.limits = dropped_limits(self.configuration)
        self.agent: AgentClient | None = None
        self.root_pid: int | None = None
        self.cwd = "/"
        self.context.subscribe("agent_ready", self._agent)
        self.context.subscribe("sample_started", self._started)
        self.context.subscribe("pre_poweroff", self._collect)

    def _agent(self, event: Event) -> None:
        self.agent = event.agent

    def _started(self, event: Event) -> None:
        self.root_pid = int(event.pid)
        self.cwd = str(event.cwd)

    def _collect(self, event: Event) -> None:
        agent, self.agent = self.agent, None
        if agent is None or self.root_pid is None:
            return
        errors: list[str] = []
        started = time.monotonic()
        try:
            entries = collect_dropped(
                agent,
                results_dir(self),
                self.root_pid,
                self.cwd,
                errors=errors,
                **self.limits,
            )
        except Exception as exc:  # a failed collection must not cost the analysis
            log.exception("dropped file collection failed")
            errors.append(f"dropped files not collected: {exc}")
            entries = []
        self.context.trigger(
            "dropped_collected",
            files=len(entries),
            errors=errors,
            seconds=round(time.monotonic() - started, 3),
        )
