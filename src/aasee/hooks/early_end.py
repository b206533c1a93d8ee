"""Early end: a run stops once the sample's whole process tree has exited and the network
has been quiet for a grace period, instead of holding its sandbox for the whole timeout.

The tree is followed in the trace as it arrives (``trace.log`` in the results, written live by
the tracer whichever side traces): every ``sched_process_fork`` from a task of the tree adds
the child, every ``sched_process_exit`` removes the task. When nothing is left, the hook waits
until the capture and the fake internet's log have not grown for ``early_end_quiet`` seconds,
then asks the agent whether any task it saw is still alive (``/proc/PID/stat``, a zombie
counts as gone): a forged exit line cannot end the run while the sample still runs. A trace
that lost events never empties the tree, so the run then ends at its timeout as before.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import results_dir

__all__ = ["EarlyEndHook", "TreeFollower"]

_FORK = re.compile(rb": sched_process_fork: comm=.* pid=(\d+) child_comm=.* child_pid=(\d+)\s*$")
_EXIT = re.compile(rb": sched_process_exit: comm=.* pid=(\d+) prio=-?\d+\s*$")
MAX_TASKS = 4096
"""Tasks remembered for the liveness check; a tree larger than this is not ended early."""
MAX_PARTIAL = 1 << 16


class TreeFollower:
    """The live tasks of one process tree, from trace lines fed in any chunking."""

    def __init__(self, root: int) -> None:
        self.live: set[int] = {root}
        self.seen: set[int] = {root}
        self.overflow = False
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_PARTIAL:
            self._partial = b""
        for line in lines:
            self.line(line)

    def line(self, line: bytes) -> None:
        if b": sched_process_" not in line:
            return
        fork = _FORK.search(line)
        if fork is not None:
            parent, child = int(fork.group(1)), int(fork.group(2))
            if parent in self.live:
                self.live.add(child)
                if len(self.seen) < MAX_TASKS:
                    self.seen.add(child)
                else:
                    self.overflow = True
            return
        exited = _EXIT.search(line)
        if exited is not None:
            self.live.discard(int(exited.group(1)))

    @property
    def empty(self) -> bool:
        return not self.live and not self.overflow


def _state(stat: bytes) -> str | None:
    """The state letter of a /proc/PID/stat text (after the last ')': comm may hold one)."""
    _, _, rest = stat.rpartition(b")")
    fields = rest.split()
    return fields[0].decode("ascii", "replace") if fields else None


class EarlyEndHook(Hook):
    """configuration: ``results_dir``; ``early_end`` (default true); ``early_end_quiet``
    (seconds the network must stay quiet once the tree is gone, default 2);
    ``early_end_poll`` (seconds between looks at the trace, default 0.25)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.enabled = bool(self.configuration.get("early_end", True))
        self.quiet = float(self.configuration.get("early_end_quiet", 2.0))
        self.poll = float(self.configuration.get("early_end_poll", 0.25))
        self.agent: Any = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        if self.enabled:
            self.context.subscribe("agent_ready", self._agent)
            self.context.subscribe("sample_started", self._start)
            self.context.subscribe("analysis_end", self._stop)
            self.context.subscribe("pre_poweroff", self._stop)

    def _agent(self, event: Event) -> None:
        self.agent = event.agent

    def _start(self, event: Event) -> None:
        follower = TreeFollower(int(event.pid))
        self.thread = threading.Thread(
            target=self._watch, args=(follower,), name="early-end", daemon=True
        )
        self.thread.start()

    def _watch(self, follower: TreeFollower) -> None:
        results = results_dir(self)
        trace = results / "trace.log"
        evidence = [results / "fakenet.jsonl", *self._capture_files()]
        offset = 0
        quiet_since: float | None = None
        last_sizes: list[int] = []
        while not self.stopping.wait(self.poll):
            offset = self._read(trace, offset, follower)
            if not follower.empty:
                quiet_since = None
                continue
            sizes = [_size(path) for path in evidence]
            now = time.monotonic()
            if quiet_since is None or sizes != last_sizes:
                quiet_since, last_sizes = now, sizes
                continue
            if now - quiet_since < self.quiet:
                continue
            alive = self._alive(follower.seen)
            if alive:
                # A forged or lost exit: those tasks still run; follow them again.
                self.logger.warning("tasks %s outlived their exit in the trace", sorted(alive))
                follower.live |= alive
                continue
            self.context.trigger(
                "analysis_end",
                reason=f"early end: the sample's processes all exited and the network was "
                f"quiet for {self.quiet:g} s",
            )
            return

    def _capture_files(self) -> list[Path]:
        run_dir = getattr(self.context, "run_dir", None)
        return [Path(str(run_dir)) / "network.pcap"] if run_dir is not None else []

    def _read(self, trace: Path, offset: int, follower: TreeFollower) -> int:
        try:
            with trace.open("rb") as handle:
                handle.seek(offset)
                while chunk := handle.read(1 << 20):
                    follower.feed(chunk)
                    offset += len(chunk)
        except FileNotFoundError:
            pass
        return offset

    def _alive(self, tasks: set[int]) -> set[int]:
        """Tasks the guest still runs (not zombies); all of them if the agent cannot say."""
        if self.agent is None:
            return set(tasks)
        alive: set[int] = set()
        for pid in sorted(tasks):
            try:
                found = self.agent.get_file(f"/proc/{pid}/stat", cap=1024, timeout=5)
            except Exception as exc:  # the guest may be wedged: do not end on a guess
                self.logger.warning("cannot ask the guest about task %d: %s", pid, exc)
                return set(tasks)
            if found.exists and _state(found.data) not in ("Z", "X", None):
                alive.add(pid)
        return alive

    def _stop(self, event: Event | None = None) -> None:
        self.stopping.set()

    def cleanup(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
            self.thread = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1
