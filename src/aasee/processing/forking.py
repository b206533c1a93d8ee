"""Work handed to a forked child process, so that postprocessing a large run takes both cores.

Owns the rule for when that is done (:func:`can_fork`: a system with ``fork`` and more than one
CPU this process may run on, unless ``AASEE_SINGLE_PROCESS`` is set; on a host whose CPUs are
all busy with other work the helpers only add to it: set it there) and :func:`start_forked`,
which runs a function in a child forked from this process (it sees everything this process
holds, copied on write) and hands its pickled result back. The child runs only that function
and ends with ``os._exit``: nothing of the parent's runs on its way out. Whatever goes wrong
(the fork, the child failing or dying, no answer within the time allowed) raises
:class:`OffloadFailed`, and the caller does the work itself, to the same result.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from typing import Final, Generic, TypeVar

__all__ = [
    "STALL",
    "Forked",
    "OffloadFailed",
    "can_fork",
    "end_child",
    "fork_child",
    "start_forked",
]

T = TypeVar("T")

STALL: Final = 120.0
"""Seconds a child may go without answering before it is taken for stuck (and killed)."""


class OffloadFailed(RuntimeError):
    """Work could not be done in a second process: do it in this one."""


def can_fork() -> bool:
    """Whether work may go to a forked child here (a second CPU this process may run on)."""
    return hasattr(os, "fork") and not os.environ.get("AASEE_SINGLE_PROCESS") and _cpus() > 1


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Forked(Generic[T]):
    """A child running one function; :meth:`result` waits for what it returned."""

    def __init__(self, pid: int, reader: Connection) -> None:
        self.pid = pid
        self._reader = reader
        self._done = False

    def result(self, stall: float = STALL) -> T:
        try:
            if not self._reader.poll(stall):
                raise OffloadFailed(f"no answer from the child process in {stall} s")
            try:
                outcome = pickle.loads(self._reader.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise OffloadFailed(f"the child process stopped: {exc!r}") from exc
            if not isinstance(outcome, tuple) or outcome[0] != "ok":
                raise OffloadFailed(f"the child process failed: {outcome!r}")
            value: T = outcome[1]
            self._done = True
            return value
        finally:
            self.close()

    def close(self) -> None:
        """Forget the child (killed if it has not answered); once only."""
        if self._reader.closed:
            return
        self._reader.close()
        end_child(self.pid, kill=not self._done)


def fork_child(
    work: Callable[[Connection], None],
    prepare: Callable[[Connection], None] | None = None,
) -> tuple[int, Connection]:
    """Fork a child that runs ``work(writer)`` (its life: :func:`run_child`); the parent gets
    the child's pid and the reading end. ``prepare(writer)`` runs before the fork. Raises
    :class:`OffloadFailed` if the fork fails."""
    reader, writer = Pipe(duplex=False)
    if prepare is not None:
        prepare(writer)
    try:
        pid = os.fork()
    except OSError as exc:
        reader.close()
        writer.close()
        raise OffloadFailed(f"fork: {exc}") from exc
    if pid == 0:  # pragma: no cover - the child (coverage does not follow the fork)
        run_child(reader, writer, lambda: work(writer))
    writer.close()
    return pid, reader


def start_forked(work: Callable[[], T]) -> Forked[T]:
    """Run ``work`` in a forked child; raises :class:`OffloadFailed` if it cannot start."""
    pid, reader = fork_child(lambda writer: writer.send_bytes(_pickled(("ok", work()))))
    return Forked(pid, reader)


def run_child(reader: Connection, writer: Connection, work: Callable[[], None]) -> None:
    """The life of a forked child: ``work``, its failure reported on ``writer``, then exit."""
    code = 1  # pragma: no cover - runs in children only
    try:  # pragma: no cover
        reader.close()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            work()
            code = 0
        except Exception as exc:
            writer.send_bytes(_pickled(("failed", f"{type(exc).__name__}: {exc}")))
    except BaseException:  # pragma: no cover
        pass
    finally:  # pragma: no cover
        os._exit(code)


def end_child(pid: int, kill: bool) -> None:
    """Reap a child, killed first if ``kill``."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _pickled(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
