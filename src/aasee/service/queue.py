"""The work queues, on huey's SQLite or Redis storage by URL: one analysis queue per guest
image and sandbox kind (a task only ever reaches a worker that has its guest and can run its
kind of sandbox) and the postprocess queue.

An analysis queue is named ``aasee_analysis.IMAGE`` for the default kind (``qemu``; the name
queues had before there were several kinds, so messages queued by an older version are still
found) and ``aasee_analysis.IMAGE@KIND`` for the others (``@`` is never part of an image
name). A sandbox worker reads only the queues of the (image, kind) pairs it registered, so a
task for a container is never taken by a worker that cannot start one, and nothing is taken
only to be put back.

``sqlite:///path`` uses ``SqliteHuey``; ``redis://``, ``rediss://`` and ``unix://`` use
``PriorityRedisHuey`` (Redis >= 5). A message carries one task id and a priority, nothing
else: the database is the truth about a task, so a lost or duplicated message is harmless
(workers claim a task in the database, and the reaper re-sends lost ones). Messages are JSON,
not pickle, so whoever can write to the queue still cannot run code in a worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from huey import PriorityRedisHuey, SqliteHuey  # type: ignore[import-untyped]
from huey.registry import Message  # type: ignore[import-untyped]
from huey.serializer import Serializer  # type: ignore[import-untyped]

ANALYSIS = "aasee_analysis"
DEFAULT_KIND = "qemu"
"""The sandbox kind of tasks that name none (``contexts.sandboxes.DEFAULT_SANDBOX``)."""
POSTPROCESS = "aasee_postprocess"
MAX_MESSAGE = 4096
POLL_SECONDS = 0.25


class QueueError(Exception):
    """The queue is unreachable or a message in it is malformed."""


class JsonSerializer(Serializer):  # type: ignore[misc]
    """Huey messages as JSON; only plain tasks (no eta, callbacks or chords) are accepted."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(list(data)).encode()

    def _deserialize(self, data: bytes) -> Any:
        if len(data) > MAX_MESSAGE:
            raise QueueError(f"queue message of {len(data)} bytes refused")
        try:
            fields = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise QueueError(f"malformed queue message: {exc}") from exc
        if not isinstance(fields, list) or len(fields) > len(Message._fields):
            raise QueueError("malformed queue message: not a huey message")
        message = Message(*fields)
        if any(getattr(message, f) is not None for f in ("eta", "on_complete", "on_error")):
            raise QueueError("queue message with a schedule or callbacks refused")
        if not isinstance(message.args, list) or not all(isinstance(a, str) for a in message.args):
            raise QueueError("malformed queue message: arguments are not task ids")
        return message._replace(args=tuple(message.args), kwargs=message.kwargs or {})


def _huey(url: str, name: str) -> Any:
    parts = urlsplit(url)
    serializer = JsonSerializer()
    if parts.scheme == "sqlite":
        # SQLAlchemy's convention: what follows "sqlite:///" is the path.
        rest = unquote(url.partition(":///")[2])
        if not rest.startswith("/") or rest == "/":
            raise QueueError(f"queue URL {url!r}: give an absolute file, sqlite:////path/queue.db")
        path = Path(rest)
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, serializer=serializer)
    if parts.scheme in ("redis", "rediss", "unix"):
        return PriorityRedisHuey(
            name, url=url, results=False, serializer=serializer, blocking=True, read_timeout=1
        )
    raise QueueError(f"queue URL {url!r}: use sqlite:///FILE or redis://HOST:PORT/DB")


class TaskQueue:
    """One named queue of task ids."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.huey = _huey(url, name)
        self.blocking = not url.startswith("sqlite")

        @self.huey.task(name=name)  # type: ignore[untyped-decorator]
        def _job(task_id: str) -> None:
            raise RuntimeError("queue jobs are run by aasee workers, not by a huey consumer")

        self._job = _job

    def enqueue(self, task_id: str, priority: int = 0) -> None:
        try:
            self.huey.enqueue(self._job.s(task_id, priority=priority))
        except Exception as exc:  # noqa: BLE001 - the storage may raise anything (sqlite, redis)
            raise QueueError(f"cannot enqueue on {self.name} ({self.display_url}): {exc}") from exc

    def dequeue(self, wait: float = 1.0) -> str | None:
        """The next task id, waiting up to ``wait`` seconds; None if there was none."""
        deadline = time.monotonic() + wait
        while True:
            if self.blocking:
                # Redis blocks in the server for at most this long (float seconds).
                self.huey.storage.read_timeout = max(0.05, min(1.0, deadline - time.monotonic()))
            try:
                job = self.huey.dequeue()
            except QueueError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise QueueError(f"cannot read {self.name} ({self.display_url}): {exc}") from exc
            if job is not None:
                return str(job.args[0])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not self.blocking:
                time.sleep(min(POLL_SECONDS, remaining))

    def depth(self) -> int:
        try:
            return int(self.huey.pending_count())
        except Exception as exc:  # noqa: BLE001
            raise QueueError(f"cannot read {self.name} ({self.display_url}): {exc}") from exc

    @property
    def display_url(self) -> str:
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url


class Queues:
    """The analysis queues (one per guest image, for sandbox workers) and the postprocess
    queue."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postprocess = TaskQueue(url, POSTPROCESS)
        self._analysis: dict[str, TaskQueue] = {}

    def analysis(self, image: str, sandbox: str = DEFAULT_KIND) -> TaskQueue:
        """The queue of tasks for guest image ``image`` in sandboxes of kind ``sandbox``."""
        name = analysis_queue_name(image, sandbox)
        queue = self._analysis.get(name)
        if queue is None:
            queue = self._analysis[name] = TaskQueue(self.url, name)
        return queue

    def dequeue_analysis(
        self, routes: Sequence[str | tuple[str, str]], wait: float = 1.0
    ) -> str | None:
        """The next task id for any of ``routes`` (an image name, for its ``qemu`` queue, or
        an ``(image, sandbox)`` pair), polled in turn within ``wait``."""
        if not routes:
            time.sleep(wait)
            return None
        share = max(0.05, wait / len(routes))
        for route in routes:
            image, sandbox = (route, DEFAULT_KIND) if isinstance(route, str) else route
            task_id = self.analysis(image, sandbox).dequeue(wait=share)
            if task_id is not None:
                return task_id
        return None


def analysis_queue_name(image: str, sandbox: str = DEFAULT_KIND) -> str:
    """The analysis queue of (image, sandbox kind); see the module's text."""
    if sandbox == DEFAULT_KIND:
        return f"{ANALYSIS}.{image}"
    return f"{ANALYSIS}.{image}@{sandbox}"
