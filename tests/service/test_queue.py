"""The work queues on huey's SQLite storage and on a real redis-server."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aasee.service.queue import QueueError, Queues, TaskQueue


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/queue.db"
    url: str = request.getfixturevalue("redis_url")
    for image in ("img", "other"):
        Queues(url).analysis(image).huey.flush()
    Queues(url).postprocess.huey.flush()
    return url


def test_priority_then_order(queue_url: str) -> None:
    queue = Queues(queue_url).analysis("img")
    queue.enqueue("low-1", -5)
    queue.enqueue("normal-1", 0)
    queue.enqueue("high", 9)
    queue.enqueue("normal-2", 0)
    assert queue.depth() == 4
    taken = [queue.dequeue(wait=1) for _ in range(4)]
    assert taken == ["high", "normal-1", "normal-2", "low-1"]
    assert queue.dequeue(wait=0.3) is None
    assert queue.depth() == 0


def test_queues_are_separate(queue_url: str) -> None:
    queues = Queues(queue_url)
    queues.postprocess.enqueue("p")
    assert queues.analysis("img").dequeue(wait=0.2) is None
    assert queues.postprocess.dequeue(wait=1) == "p"


def test_a_task_only_reaches_workers_of_its_guest_image(queue_url: str) -> None:
    """Each guest image has its own analysis queue: a worker takes only what it can run."""
    queues = Queues(queue_url)
    queues.analysis("other").enqueue("for-other", 0)
    queues.analysis("img").enqueue("for-img", 0)
    assert queues.dequeue_analysis(["img"], wait=0.5) == "for-img"
    assert queues.dequeue_analysis(["img"], wait=0.3) is None
    assert queues.dequeue_analysis(["img", "other"], wait=0.5) == "for-other"
    assert queues.dequeue_analysis([], wait=0.1) is None


def test_a_second_client_sees_the_same_queue(queue_url: str) -> None:
    Queues(queue_url).analysis("img").enqueue("shared")
    assert Queues(queue_url).analysis("img").dequeue(wait=1) == "shared"


def test_pickled_message_is_refused_not_run(queue_url: str, tmp_path: Path) -> None:
    queue = Queues(queue_url).analysis("img")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, ...]:
            return (marker.write_text, ("ran",))

    queue.huey.storage.enqueue(pickle.dumps(Exploit()), 0)
    with pytest.raises(QueueError, match="malformed"):
        queue.dequeue(wait=1)
    assert not marker.exists()


def test_relative_sqlite_queue_is_refused() -> None:
    with pytest.raises(QueueError, match="absolute"):
        TaskQueue("sqlite:///relative.db", "x")


def test_unreachable_redis_is_a_queue_error(tmp_path: Path) -> None:
    queue = TaskQueue(f"unix://{tmp_path}/none.sock", "x")
    with pytest.raises(QueueError, match="cannot"):
        queue.enqueue("t")
