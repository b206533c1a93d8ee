"""The task state machine on a real database (SQLite and PostgreSQL): legal and illegal
transitions, claims, run ownership, bounded retries, the reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aasee.service import lifecycle
from aasee.service.facade import SubmitOptions, TaskService
from aasee.service.lifecycle import TRANSITIONS, IllegalTransition, transition
from aasee.service.models import Task, utcnow

from .conftest import BACKENDS, backend_database_url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Overrides conftest's: each test here that uses the database runs on SQLite and on
    PostgreSQL (its id names the backend)."""
    return backend_database_url(request, request.param)


def _submit(service: TaskService, data: bytes = b"#!/bin/sh\necho hi\n") -> str:
    return service.submit(data, "s.sh", SubmitOptions(), force=True).id


def _status(service: TaskService, task_id: str) -> str:
    view = service.get(task_id)
    assert view is not None
    return view.status


@pytest.mark.parametrize("old", list(TRANSITIONS))
@pytest.mark.parametrize("new", list(TRANSITIONS))
def test_only_listed_transitions_are_allowed(old: str, new: str) -> None:
    task = Task(id="t", status=old)
    if new in TRANSITIONS[old]:
        transition(task, new)
        assert task.status == new
    else:
        with pytest.raises(IllegalTransition, match=f"{old} -> {new}"):
            transition(task, new)


def test_happy_path(service: TaskService) -> None:
    task_id = _submit(service)
    db = service.db
    claim = lifecycle.claim_for_analysis(db, task_id, "w1")
    assert claim is not None and claim.attempt == 1
    assert lifecycle.claim_for_analysis(db, task_id, "w2") is None  # claimed once only
    assert _status(service, task_id) == "starting_vm"
    assert lifecycle.report_progress(db, task_id, claim.run_id, "booting guest", None)
    assert _status(service, task_id) == "starting_vm"
    assert lifecycle.report_progress(db, task_id, claim.run_id, "running sample", 0.5)
    view = service.get(task_id)
    assert view is not None and view.status == "running" and view.progress == 0.5
    assert view.substatus == "running sample" and view.worker == "w1"
    assert lifecycle.acquired(db, task_id, claim.run_id, ["trace.log"])
    assert _status(service, task_id) == "postprocessing"
    assert lifecycle.claim_for_postprocess(db, task_id, "p1") == ["trace.log"]
    assert lifecycle.claim_for_postprocess(db, task_id, "p2") is None
    assert lifecycle.reported(db, task_id, "p1", "malicious", 9.5)
    view = service.get(task_id)
    assert view is not None and view.status == "reported"
    assert (view.verdict, view.score, view.reason) == ("malicious", 9.5, None)
    assert view.finished is not None and view.finished.tzinfo is not None


def test_updates_of_a_superseded_run_are_refused(service: TaskService) -> None:
    task_id = _submit(service)
    db = service.db
    first = lifecycle.claim_for_analysis(db, task_id, "w1")
    assert first is not None
    assert lifecycle.retry_or_fail(db, task_id, first.run_id, "worker died", retries=1) == "retry"
    second = lifecycle.claim_for_analysis(db, task_id, "w2")
    assert second is not None and second.run_id != first.run_id and second.attempt == 2
    assert not lifecycle.report_progress(db, task_id, first.run_id, "running sample", 0.1)
    assert not lifecycle.heartbeat(db, task_id, first.run_id)
    assert not lifecycle.acquired(db, task_id, first.run_id, [])
    assert lifecycle.retry_or_fail(db, task_id, first.run_id, "late", retries=1) is None
    assert lifecycle.heartbeat(db, task_id, second.run_id)


def test_retries_are_bounded(service: TaskService) -> None:
    task_id = _submit(service)
    db = service.db
    outcomes = []
    for _ in range(3):
        claim = lifecycle.claim_for_analysis(db, task_id, "w")
        if claim is None:
            break
        outcomes.append(lifecycle.retry_or_fail(db, task_id, claim.run_id, "VM crashed", 1))
    assert outcomes == ["retry", "failed"]
    view = service.get(task_id)
    assert view is not None and view.status == "failed" and view.attempts == 2
    assert view.reason == "VM crashed (after 2 attempt(s))"


def test_reaper_retries_then_fails_silent_tasks(service: TaskService) -> None:
    task_id = _submit(service)
    db, settings = service.db, service.settings
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == task_id
    claim = lifecycle.claim_for_analysis(db, task_id, "host:1:sandbox-1")
    assert claim is not None
    assert lifecycle.report_progress(db, task_id, claim.run_id, "running sample", 0.2)
    assert lifecycle.reap(db, service.queues, settings).retried == []  # fresh heartbeat
    later = utcnow() + timedelta(seconds=settings.stale_after_seconds + 1)
    result = lifecycle.reap(db, service.queues, settings, later)
    assert result.retried == [task_id]
    view = service.get(task_id)
    assert view is not None and view.status == "pending"
    assert view.reason is not None and "stopped responding during running sample" in view.reason
    assert service.queues.analysis("debian-bookworm-amd64").dequeue(wait=1) == task_id  # sent again
    claim = lifecycle.claim_for_analysis(db, task_id, "host:2:sandbox-1")
    assert claim is not None
    result = lifecycle.reap(db, service.queues, settings, later + timedelta(seconds=60))
    assert result.failed == [task_id]
    view = service.get(task_id)
    assert view is not None and view.status == "failed"
    assert view.reason is not None and "host:2:sandbox-1 stopped responding" in view.reason


def test_reaper_requeues_a_silent_postprocess_worker(service: TaskService) -> None:
    task_id = _submit(service)
    db, settings = service.db, service.settings
    claim = lifecycle.claim_for_analysis(db, task_id, "w")
    assert claim is not None and lifecycle.acquired(db, task_id, claim.run_id, ["trace.log"])
    assert lifecycle.claim_for_postprocess(db, task_id, "p") is not None
    later = utcnow() + timedelta(seconds=settings.stale_after_seconds + 1)
    assert lifecycle.reap(db, service.queues, settings, later).retried == [task_id]
    view = service.get(task_id)
    assert view is not None and view.status == "postprocessing" and view.worker is None
    assert lifecycle.claim_for_postprocess(db, task_id, "p2") is not None
    much_later = later + timedelta(seconds=60)
    assert lifecycle.reap(db, service.queues, settings, much_later).failed == [task_id]
    assert _status(service, task_id) == "failed"


def test_reaper_resends_lost_messages_only_when_the_queue_is_empty(
    service: TaskService,
) -> None:
    first = _submit(service, b"one")
    second = _submit(service, b"two")
    settings = service.settings
    later = utcnow() + timedelta(seconds=settings.stale_after_seconds + 1)
    # Both messages are still queued: nothing is lost, nothing is re-sent.
    assert lifecycle.reap(service.db, service.queues, settings, later).resent == []
    queue = service.queues.analysis("debian-bookworm-amd64")
    queue.huey.flush()  # the queue lost them (e.g. a Redis restart)
    result = lifecycle.reap(service.db, service.queues, settings, later)
    assert sorted(result.resent) == sorted([first, second])
    taken = {queue.dequeue(wait=1), queue.dequeue(wait=1)}
    assert taken == {first, second}


def test_reap_worker_acts_at_once(service: TaskService) -> None:
    task_id = _submit(service)
    claim = lifecycle.claim_for_analysis(service.db, task_id, "host:42:sandbox-1")
    assert claim is not None
    result = lifecycle.reap_worker(
        service.db, service.queues, "host:42:sandbox-1", "killed by SIGKILL", service.settings
    )
    assert result.retried == [task_id]
    view = service.get(task_id)
    assert view is not None and view.status == "pending" and view.reason == "killed by SIGKILL"


def test_reprocess_rules(service: TaskService) -> None:
    task_id = _submit(service)
    with pytest.raises(ValueError, match="wait until it has finished"):
        service.reprocess(task_id)
    with pytest.raises(KeyError):
        service.reprocess("00000000-0000-0000-0000-000000000000")
    claim = lifecycle.claim_for_analysis(service.db, task_id, "w")
    assert claim is not None
    lifecycle.fail(service.db, task_id, "boom", claim.run_id)
    with pytest.raises(ValueError, match="no stored raw artefacts"):
        service.reprocess(task_id)


def test_fail_records_reason_and_refuses_finished_tasks(service: TaskService) -> None:
    task_id = _submit(service)
    assert lifecycle.fail(service.db, task_id, "x" * 5000)
    view = service.get(task_id)
    assert view is not None and view.status == "failed" and len(view.reason or "") == 2000
    assert not lifecycle.fail(service.db, task_id, "again")
