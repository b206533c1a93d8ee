"""Builds the behaviour model (process tree, files, network, syscalls) from trace events.

Owns the meaning of the event stream: which task belongs to which process (threads are
folded into their thread group, reused pids become new process nodes), how a probe event is
paired with its result (the matching ``*_r`` kretprobe, else the ``sys_exit`` of the same
task), and how relative paths resolve against each process's working directory and
descriptors. Finished calls become records in :mod:`.activity`. The guest is hostile: every
value is treated as data, every collection is bounded, and nothing here touches the host
file system (paths are normalised as strings).

:meth:`BehaviourBuilder.feed_lines` is the way in for a whole trace: the records the parser
remembers (raw syscalls, return probes: most of a trace) go from the line to the state without
an event object, through the common cases of the handlers written out in one loop (a cache of
each pid's process, cleared whenever the process and thread tables change, spares the lookup);
the rest goes through the parser's and the handlers' general code, exactly as ``feed_all`` of
the parsed events would (``tests/unit/processing/test_fast_paths.py`` checks it).
:meth:`BehaviourBuilder.feed_batches` does the same with the records of a trace a second
process parses (:mod:`.trace_worker`; ``tests/unit/processing/test_offload.py``).

Events of the sample's own pid before its first ``sched_process_exec`` belong to the agent
setting up the child (redirecting stdio, ``chdir``); they are dropped, except that the
``chdir`` sets the sample's initial working directory.

Numbers are decoded per architecture and per process (:mod:`.guest_abi`): every process runs
in a syscall ABI, its parent's until it execs; the ``argv`` record of an exec names the ABI of
the new program (``argv__i386``: an i386 program on the x86-64 guest), whose table then
names its raw syscalls. The ``argv`` record comes before the exec event where the kernel
calls ``start_thread`` (x86, MIPS), after it where the probe sits on the return to user
space (arm, arm64): both orders are followed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from aasee.arch import DEFAULT_ARCH
from aasee.arch.abi import FMODE_EXEC

from . import linux
from .activity import ActivityRecorder, outcome
from .clock import GuestClock
from .guest_abi import AbiNumbers, GuestAbi, guest_abi
from .models import (
    Bind,
    Connection,
    DirectoryOpen,
    DnsQuery,
    ExecRecord,
    FileAccess,
    FileChmod,
    FileCreate,
    FileDelete,
    FileLink,
    FileMkdir,
    FileRename,
    Files,
    Network,
    Process,
    ProcessTreeNode,
    PtraceCall,
    Syscalls,
    TraceFlood,
    UdpSend,
    UnixSocket,
)
from .records import RecordStore
from .state import UNREADABLE, FdEntry, PendingCall, ProcessState, TaskState
from .trace_parser import (
    FRACTION_MAX,
    NO_HEAD,
    SYS_ENTER,
    SYS_EXIT,
    Head,
    Known,
    SysBody,
    SysRecord,
    TraceEvent,
    TraceParser,
    TraceStats,
    sys_event,
)
from .trace_worker import OTHER, Batch, OffloadFailed, SysPair, event_head, record_of

__all__ = ["UNREADABLE", "Behaviour", "BehaviourBuilder", "Limits", "build_behaviour"]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one report may hold, whatever the sample does (fork bombs, floods)."""

    processes: int = 10_000
    records: int = 20_000
    threads_listed: int = 1_024
    execs_per_process: int = 64
    fds_per_process: int = 4_096
    calls_per_task: int = 64
    tree_depth: int = 32


@dataclass
class Behaviour:
    """What the sample's process tree did, ready to be placed into a report."""

    processes: list[Process]
    process_tree: list[ProcessTreeNode]
    files: Files
    network: Network
    syscalls: Syscalls
    root: str | None
    pre_exec_dropped: int
    truncated: dict[str, int]
    errors: list[str]
    floods: list[TraceFlood] = field(default_factory=list)


MAX_FLOODS = 64
"""Flood records kept (the guard itself filters at most 48 tasks)."""
_NO_ARGS: tuple[int, ...] = ()
_BOUND_MAX = 4096
_ARGS_CACHE = 4096
_DUPFD = (linux.F_DUPFD, linux.F_DUPFD_CLOEXEC)

_CALL_EVENTS = frozenset(
    {
        "open",
        "unlink",
        "rmdir",
        "mkdir",
        "rename",
        "symlink",
        "link",
        "chmod",
        "fchmodat",
        "fchmod",
        "chdir",
        "connect",
        "bind",
        "bind6",
        "udpsend",
        "ptrace",
    }
)
_RET_EVENTS = {"open_r": "open", "connect_r": "connect", "unlink_r": "unlink", "rename_r": "rename"}
_DFD_PATH = frozenset({"open", "unlink", "rmdir", "mkdir", "fchmodat"})


class BehaviourBuilder:
    """Feed it events in trace order with :meth:`feed`, then call :meth:`finish` once."""

    def __init__(
        self,
        root_pid: int | None,
        initial_cwd: str = "/",
        clock: GuestClock | None = None,
        limits: Limits | None = None,
        guest: GuestAbi | str = DEFAULT_ARCH,
    ) -> None:
        self.root_pid = root_pid
        self.limits = limits or Limits()
        self._calls_max = self.limits.calls_per_task
        self._clock = clock
        self.guest = guest_abi(guest) if isinstance(guest, str) else guest
        self._native = self.guest.native
        self._initial_cwd = posixpath.normpath(posixpath.join("/", initial_cwd or "/"))
        self._armed = root_pid is None
        self._raw = False
        self._root: ProcessState | None = None
        self._root_first_ts: float | None = None
        self._pre_chdir: str | None = None
        self._nodes: dict[str, ProcessState] = {}
        self._key_repeats: dict[str, int] = {}
        self._live: dict[int, ProcessState] = {}
        self._last: dict[int, ProcessState] = {}
        self._thread_owner: dict[int, int] = {}
        self._tentative: set[int] = set()
        self._tasks: dict[int, TaskState] = {}
        self.store = RecordStore(self.limits.records)
        self._recorder = ActivityRecorder(self.store, clock, self.guest.endian)
        # Processes exec'd without their argv yet, by pid: the next event of that pid settles
        # whether an argv record follows the exec (arm, arm64) or none came.
        self._argv_due: dict[int, tuple[ProcessState, ExecRecord | None]] = {}
        self.pre_exec_dropped = 0
        self.fed = False
        """Whether a trace was fed (in part, at least) by :meth:`feed_lines` or
        :meth:`feed_batches`."""
        self.trace_sha256: str | None = None
        """The SHA-256 of the trace :meth:`feed_batches` fed (the other process read it)."""
        self.errors: list[str] = []
        self.floods: list[TraceFlood] = []
        # The arguments of raw syscalls the model reads, by their text (they repeat).
        self._args: dict[str, tuple[int, ...]] = {}
        # The process of each record header (its pid and tgid as printed), as _proc_of found
        # it: valid until the next change of the pid, thread and process tables (each clears
        # it).
        self._bound: dict[bytes | int, ProcessState] = {}
        self._handlers: dict[str, Callable[[TraceEvent], None]] = {
            "sys_enter": self._sys_enter,
            "sys_exit": self._sys_exit,
            "sched_process_fork": self._fork,
            "sched_process_exec": self._exec,
            "sched_process_exit": self._task_exit,
            "exit": self._do_exit,
            "argv": self._argv,
            "flood": self._flood,
        }
        for name in _CALL_EVENTS:
            self._handlers[name] = self._call
        for name in _RET_EVENTS:
            self._handlers[name] = self._ret

    def _flood(self, event: TraceEvent) -> None:
        """The agent's flood guard filtered a task out of the trace after its budget."""
        if len(self.floods) >= MAX_FLOODS:
            return
        pid = event.get_int("pid")
        if pid is None:
            return
        tgid = self._thread_owner.get(pid, pid)
        proc = self._live.get(tgid) or self._last.get(tgid)
        self.floods.append(
            TraceFlood(
                pid=pid,
                process=getattr(proc, "image", None),
                events=max(event.get_int("events") or 0, 0),
                window_ms=max(event.get_int("window_ms") or 0, 0),
                time=self._iso(event.ts),
            )
        )

    # --- bookkeeping -------------------------------------------------------------------
    def _iso(self, ts: float | None) -> str | None:
        return None if self._clock is None or ts is None else self._clock.iso(ts)

    @property
    def truncated(self) -> dict[str, int]:
        """Records dropped at a limit, per category."""
        return self.store.truncated

    def _drop(self, what: str) -> None:
        self.store.drop(what)

    def _task(self, tid: int) -> TaskState:
        task = self._tasks.get(tid)
        if task is None:
            task = self._tasks[tid] = TaskState()
        return task

    def _new_proc(
        self, pid: int, parent: ProcessState | None, ts: float, comm: str
    ) -> ProcessState:
        key = f"{pid}@{ts:.6f}"
        if key in self._nodes:
            # Only a forged or duplicated line can start the same pid twice at one instant;
            # a counter per key keeps that O(1) however many such lines there are.
            n = self._key_repeats.get(key, 1) + 1
            self._key_repeats[key] = n
            key = f"{key}#{n}"
        cwd = parent.cwd if parent is not None else self._initial_cwd
        abi = parent.abi if parent is not None else self._native
        proc = ProcessState(
            key=key,
            pid=pid,
            ppid=parent.pid if parent is not None else None,
            parent=parent.key if parent is not None else None,
            comm=comm,
            start=ts,
            cwd=cwd,
            abi=abi,
            cwd_shown=cwd,
        )
        proc.syscalls_by_abi[abi.name] = proc.syscalls
        if parent is not None:
            # A child runs its parent's program with the parent's descriptors until it execs.
            proc.image = parent.image
            proc.argv = list(parent.argv)
            proc.argv_truncated = parent.argv_truncated
            proc.fds = parent.fds
            proc.fds_shared = parent.fds_shared = True
            parent.children.append(key)
        self._bound.clear()
        self._nodes[key] = proc
        self._live[pid] = proc
        self._last[pid] = proc
        return proc

    def _proc(self, event: TraceEvent) -> ProcessState:
        """The process (thread group) an event belongs to, creating it if never seen."""
        return self._proc_of(event.pid, event.tgid, event.ts, event.comm)

    def _proc_of(self, pid: int, tgid: int | None, ts: float | bytes, comm: str) -> ProcessState:
        """:meth:`_proc` from the header fields (``ts`` may still be the trace's text)."""
        if tgid is None:
            tgid = self._thread_owner.get(pid, pid)
        if pid in self._tentative:
            self._tentative.discard(pid)
            self._bound.clear()
            if tgid != pid:
                self._unfork(pid)
        if tgid != pid and pid not in self._thread_owner:
            self._thread_owner[pid] = tgid
            self._bound.clear()
            owner = self._live.get(tgid) or self._last.get(tgid)
            if owner is not None:
                self._add_thread(owner, pid)
        proc = self._live.get(tgid)
        if proc is None:
            # A thread outliving its leader still belongs to the leader's (exited) process.
            proc = self._last.get(tgid) if tgid != pid else None
            if proc is None:
                proc = self._new_proc(tgid, None, float(ts), comm)
        return proc

    def _add_thread(self, proc: ProcessState, tid: int) -> None:
        if len(proc.threads) < self.limits.threads_listed:
            proc.threads.append(tid)
        else:
            self._drop("threads")

    def _unfork(self, pid: int) -> None:
        """A fork child first seen as a thread of another group: it was a thread all along."""
        proc = self._live.get(pid)
        if proc is None or proc.execs or any(proc.syscalls_by_abi.values()):
            return
        self._bound.clear()
        del self._nodes[proc.key]
        self._live.pop(pid, None)
        if self._last.get(pid) is proc:
            del self._last[pid]
        if proc.parent is not None and proc.parent in self._nodes:
            siblings = self._nodes[proc.parent].children
            if proc.key in siblings:
                siblings.remove(proc.key)

    def _resolve(self, proc: ProcessState, dfd: int | None, path: str | None) -> str:
        """Absolute, normalised path where it can be known; never touches the host."""
        if path is None:
            return UNREADABLE
        if path.startswith("/"):
            if "//" in path or "/." in path or path.endswith("/"):
                return posixpath.normpath(path)
            # No empty, "." or ".." component and no trailing slash: normal already.
            return path
        base: str | None
        if dfd is None or dfd == linux.AT_FDCWD:
            base = proc.cwd
        else:
            entry = proc.fds.get(dfd)
            base = entry.path if entry is not None and entry.kind != "socket" else None
        if base is None:
            # Relative to a descriptor we never saw opened: keep what the sample passed.
            return path
        if not path:
            return base
        return posixpath.normpath(posixpath.join(base, path))

    def _count_syscall(self, proc: ProcessState, nr: int) -> None:
        proc.syscalls[nr] = proc.syscalls.get(nr, 0) + 1

    @staticmethod
    def _set_abi(proc: ProcessState, abi: AbiNumbers) -> None:
        """The process runs a program of ``abi`` from now on."""
        if proc.abi is abi:
            return
        proc.abi = abi
        proc.syscalls = proc.syscalls_by_abi.setdefault(abi.name, {})

    # --- event dispatch ----------------------------------------------------------------
    def feed(self, event: TraceEvent) -> None:
        if not self._armed:
            self._pre_exec(event)
            return
        handler = self._handlers.get(event.event)
        if handler is not None:
            handler(event)

    def feed_all(self, events: Iterable[TraceEvent]) -> None:
        """:meth:`feed` each event; the same, minus a call per event on large traces."""
        handlers = self._handlers
        for event in events:
            if not self._armed:
                self._pre_exec(event)
                continue
            handler = handlers.get(event.event)
            if handler is not None:
                handler(event)

    def feed_lines(self, lines: Iterable[bytes], parser: TraceParser | None = None) -> None:
        """Parse ``lines`` (with ``parser``, whose stats count them) and feed every record.

        The same as ``feed_all(parser.parse(lines))``, made for the bulk of a trace: once the
        sample runs, records the parser remembers (raw syscalls, return probes) go straight
        from the line to the state, without an event object, through the common cases of
        :meth:`_enter`, :meth:`_leave` and :meth:`_ret` written out in the loop.
        """
        self.fed = True
        parser = parser or TraceParser()
        lines = iter(lines)
        if not self._armed:
            records = parser.records(lines)
            try:
                for record in records:
                    self._record(record)
                    if self._armed:
                        break
                else:
                    return
            finally:
                records.close()
        self._feed_armed(lines, parser)

    def _record(self, record: TraceEvent | SysRecord) -> None:
        if not isinstance(record, TraceEvent):
            if not self._armed:
                self._pre_exec(sys_event(record))
            elif record[2][0] == SYS_ENTER:
                self._enter(*record)
            else:
                self._leave(*record)
            return
        if not self._armed:
            self._pre_exec(record)
            return
        handler = self._handlers.get(record.event)
        if handler is not None:
            handler(record)

    def _feed_armed(self, lines: Iterator[bytes], parser: TraceParser) -> None:
        # Each line: cut, look its stamp and tail up, check the fraction of its timestamp (see
        # the parser's fast path), then the state change in the common case; any other case
        # goes through the parser's and the handlers' general code. While a record waits for
        # its continuation (a string with a line break), lines go to the parser one by one.
        heads, tails = parser.heads, parser.tails
        by_event = parser.stats.by_event
        tasks, argv_due, bound = self._tasks, self._argv_due, self._bound
        handlers = self._handlers
        native = self._native
        raw_seen = self._raw
        count = enters = exits = others = 0
        record: TraceEvent | SysRecord | None
        try:
            while True:
                if parser.fast and parser.pending is None:
                    for raw in lines:
                        count += 1
                        stamp, cut, tail = raw.partition(b": ")
                        stamp, _, fraction = stamp.rpartition(b".")
                        head = heads.get(stamp)
                        if head is None:
                            head = parser.head_of(stamp)
                        if (
                            head is NO_HEAD
                            or not fraction.isdigit()
                            or len(fraction) > FRACTION_MAX
                        ):
                            record = parser.line(raw)
                        else:
                            body = tails.get(tail)
                            if type(body) is tuple:
                                pid = head[1]
                                task = tasks.get(pid)
                                if task is None or task.calls or argv_due or not raw_seen:
                                    if body[0] == SYS_ENTER:
                                        enters += 1
                                        self._enter(head, head[4] + fraction, body)
                                    else:
                                        exits += 1
                                        self._leave(head, head[4] + fraction, body)
                                    raw_seen = True
                                    continue
                                nr = body[1]
                                if body[0] == SYS_ENTER:
                                    enters += 1
                                    # The process of this header, valid until the tables change.
                                    proc = bound.get(stamp)
                                    if proc is None:
                                        proc = self._bind(stamp, head, head[4] + fraction)
                                    task.argv = None
                                    abi = proc.abi
                                    task.nr = nr
                                    task.abi = abi
                                    if nr in abi.args_needed:
                                        task.args = self._args_of(body[2])  # type: ignore[arg-type]
                                    else:
                                        task.args = _NO_ARGS
                                    counts = proc.syscalls
                                    counts[nr] = counts.get(nr, 0) + 1
                                    continue
                                exits += 1
                                if nr == task.nr:
                                    abi = task.abi or native
                                    ret: int = body[2]  # type: ignore[assignment]
                                    if nr in abi.effects and ret >= 0:
                                        proc = bound.get(stamp)
                                        if proc is None:
                                            proc = self._bind(stamp, head, head[4] + fraction)
                                        self._syscall_effects(proc, task, abi, nr, ret)
                                task.nr = None
                                task.args = _NO_ARGS
                                continue
                            if body is not None:
                                known: Known = body  # type: ignore[assignment]
                                others += 1
                                by_event[known.name] += 1
                                if known.ret is None:
                                    handler = handlers.get(known.name)
                                    if handler is not None:
                                        handler(known.event(head, float(head[4] + fraction)))
                                    continue
                                task = tasks.get(head[1])
                                if task is None or not task.calls:
                                    continue
                                kind = _RET_EVENTS[known.name]
                                for call in reversed(task.calls):
                                    if call.event.event == kind and call.ret is None:
                                        call.ret = known.ret
                                        if not raw_seen:
                                            task.calls.remove(call)
                                            self._finish_call(call)
                                        break
                                continue
                            if cut:
                                record = parser.fresh(raw, tail, head[4] + fraction, head)
                            else:
                                record = parser.line(raw)
                        if type(record) is TraceEvent:
                            handler = handlers.get(record.event)
                            if handler is not None:
                                handler(record)
                        elif record is not None:
                            self._record(record)
                            raw_seen = self._raw
                        if parser.pending is not None:
                            break
                    else:
                        break
                else:
                    for raw in lines:
                        count += 1
                        record = parser.line(raw)
                        if record is not None:
                            self._record(record)
                            raw_seen = self._raw
                        if parser.fast and parser.pending is None:
                            break
                    else:
                        break
            parser.end()
        finally:
            parser.count(count, enters, exits, others)

    def feed_batches(self, batches: Iterable[Batch], parser: TraceParser) -> None:
        """Feed the records of ``batches`` (a trace parsed elsewhere, see
        :mod:`.trace_worker`) in order, and give ``parser`` the stats of that parse.

        The same as :meth:`feed_lines` over the trace's lines: the state changes of records
        made of a header and a body the parse had seen before are those of the loop there,
        written out again here; the other records go through :meth:`_record`. While a batch
        is fed, ``parser`` has the stats of the parse up to the end of the batch.
        """
        self.fed = True
        heads: list[Head] = []
        bodies: list[SysBody | Known | SysPair] = []
        known: Known
        tasks, argv_due, bound = self._tasks, self._argv_due, self._bound
        handlers = self._handlers
        native = self._native
        raw_seen = self._raw
        armed = self._armed
        bound.clear()
        for batch in batches:
            stats = dict(batch.stats)
            stats["by_event"] = dict(stats["by_event"])
            parser.stats = TraceStats(**stats)
            if batch.reset:
                heads.clear()
                bodies.clear()
                bound.clear()
            heads.extend(batch.heads)
            bodies.extend(batch.bodies)
            others = iter(batch.others)
            for hid, bid, ts in zip(batch.head_ids, batch.body_ids, batch.stamps, strict=True):
                if hid == OTHER:
                    other = next(others)
                    if len(other) == 10:
                        # A probe event with its return probe's record (the next line).
                        event = TraceEvent(*other[:9])
                        known = bodies[other[9]]  # type: ignore[assignment]
                        if not armed:
                            self._record(event)
                            self._record(known.event(event_head(event), event.ts))
                            raw_seen, armed = self._raw, self._armed
                            continue
                        handler = handlers.get(event.event)
                        if handler is not None:
                            handler(event)
                        self._returned(event.pid, known, raw_seen)
                    elif armed and len(other) > 3:
                        event = TraceEvent(*other)
                        handler = handlers.get(event.event)
                        if handler is not None:
                            handler(event)
                    else:
                        self._record(record_of(other))
                        raw_seen, armed = self._raw, self._armed
                    continue
                head = heads[hid]
                body = bodies[bid]
                if not armed:
                    if type(body) is tuple:
                        self._record((head, ts, body))
                    elif type(body) is SysPair:
                        self._record((head, ts, body.enter))
                        self._record((head, ts, body.exit))
                    else:
                        self._record(body.event(head, ts))  # type: ignore[union-attr]
                    raw_seen, armed = self._raw, self._armed
                    continue
                if type(body) is tuple:
                    pid = head[1]
                    task = tasks.get(pid)
                    if task is None or argv_due or not raw_seen:
                        if body[0] == SYS_ENTER:
                            self._enter(head, ts, body)
                        else:
                            self._leave(head, ts, body)
                        raw_seen = True
                        continue
                    nr = body[1]
                    if body[0] == SYS_ENTER:
                        if task.calls:
                            # The previous syscall's exit was lost (or it never returns).
                            self._settle(task)
                        proc = bound.get(hid)
                        if proc is None:
                            proc = self._bind(hid, head, ts)
                        task.argv = None
                        abi = proc.abi
                        task.nr = nr
                        task.abi = abi
                        if nr in abi.args_needed:
                            task.args = self._args_of(body[2])  # type: ignore[arg-type]
                        else:
                            task.args = _NO_ARGS
                        counts = proc.syscalls
                        counts[nr] = counts.get(nr, 0) + 1
                        continue
                    if nr == task.nr:
                        abi = task.abi or native
                        ret: int = body[2]  # type: ignore[assignment]
                        if nr in abi.effects and ret >= 0:
                            proc = bound.get(hid)
                            if proc is None:
                                proc = self._bind(hid, head, ts)
                            self._syscall_effects(proc, task, abi, nr, ret)
                        for call in task.calls:
                            call.sys_ret = ret
                    if task.calls:
                        self._settle(task)
                    task.nr = None
                    task.args = _NO_ARGS
                    continue
                if type(body) is SysPair:
                    # An entry and its exit on the next line: the two steps above in turn.
                    enter, leave = body.enter, body.exit
                    pid = head[1]
                    task = tasks.get(pid)
                    if task is None or argv_due or not raw_seen:
                        self._enter(head, ts, enter)
                        self._leave(head, ts, leave)
                        raw_seen = True
                        continue
                    if task.calls:
                        self._settle(task)
                    proc = bound.get(hid)
                    if proc is None:
                        proc = self._bind(hid, head, ts)
                    nr = enter[1]
                    task.argv = None
                    abi = proc.abi
                    task.nr = nr
                    task.abi = abi
                    if nr in abi.args_needed:
                        task.args = self._args_of(enter[2])  # type: ignore[arg-type]
                    else:
                        task.args = _NO_ARGS
                    counts = proc.syscalls
                    counts[nr] = counts.get(nr, 0) + 1
                    ret = leave[2]  # type: ignore[assignment]
                    if nr in abi.effects and ret >= 0:
                        self._syscall_effects(proc, task, abi, nr, ret)
                    for call in task.calls:
                        call.sys_ret = ret
                    if task.calls:
                        self._settle(task)
                    task.nr = None
                    task.args = _NO_ARGS
                    continue
                known = body  # type: ignore[assignment]
                if known.ret is None:
                    handler = handlers.get(known.name)
                    if handler is not None:
                        handler(known.event(head, ts))
                    continue
                self._returned(head[1], known, raw_seen)
            if batch.last:
                bound.clear()
                self.trace_sha256 = batch.sha256
                return
        raise OffloadFailed("the batches ended without the parser's stats")

    def _returned(self, pid: int, known: Known, raw_seen: bool) -> None:
        """A return probe's record (``ret`` known) in the armed model: :meth:`_ret`."""
        task = self._tasks.get(pid)
        if task is None or not task.calls:
            return
        kind = _RET_EVENTS[known.name]
        for call in reversed(task.calls):
            if call.event.event == kind and call.ret is None:
                call.ret = known.ret
                if not raw_seen:
                    task.calls.remove(call)
                    self._finish_call(call)
                return

    def _bind(self, stamp: bytes | int, head: Head, ts: bytes | float) -> ProcessState:
        """The process of a record header (``stamp``: its text with its seconds, or its id in
        :meth:`feed_batches`), remembered until the tables change (a bounded number of
        headers)."""
        proc = self._proc_of(head[1], head[2], ts, head[0])
        bound = self._bound
        if len(bound) >= _BOUND_MAX:
            bound.clear()
        bound[stamp] = proc
        return proc

    def _pre_exec(self, event: TraceEvent) -> None:
        root = self.root_pid
        if event.pid != root or event.tgid not in (None, root):
            self.pre_exec_dropped += 1
            return
        if self._root_first_ts is None:
            self._root_first_ts = event.ts
        name = event.event
        if name == "sched_process_exec":
            self._armed = True
            if self._pre_chdir is not None:
                # chdir result never seen (no raw syscall stream): the agent's chdir
                # succeeded, or there would be no exec.
                self._initial_cwd = self._pre_chdir
            proc = self._new_proc(event.pid, None, self._root_first_ts, event.comm)
            self._root = proc
            # The execve that started the sample was entered (by the agent, in the native
            # ABI) before the exec event.
            if self._native.execve is not None:
                self._count_syscall(proc, self._native.execve)
            self._exec(event)
            return
        if name == "sys_enter":
            self._raw = True
            self.pre_exec_dropped += 1
            task = self._task(event.pid)
            task.nr = event.get_int("nr")
            # An argv record belongs to the syscall it came in (an exec's), never to a later one.
            task.argv = None
        elif name == "sys_exit":
            self._raw = True
            self.pre_exec_dropped += 1
            task = self._task(event.pid)
            if task.nr in self._native.chdir and self._pre_chdir is not None:
                if event.get_int("ret") == 0:
                    self._initial_cwd = self._pre_chdir
                self._pre_chdir = None
            task.nr = None
        elif name == "chdir":
            path = event.get_str("path")
            if path is not None:
                self._pre_chdir = posixpath.normpath(posixpath.join(self._initial_cwd, path))
        elif name == "argv":
            self._task(event.pid).argv = event
        else:
            self.pre_exec_dropped += 1

    # The two raw syscall handlers see most events: they take the parser's raw syscall
    # records (header, timestamp text, body) and do nothing they can avoid.
    def _sys_enter(self, event: TraceEvent) -> None:
        nr = event.fields["nr"] or "0"
        args = event.fields.get("args") or ""
        self._enter(
            (event.comm, event.pid, event.tgid, event.cpu, b""),
            event.ts,
            (SYS_ENTER, int(nr), args, nr, args),
        )

    def _sys_exit(self, event: TraceEvent) -> None:
        nr = event.fields["nr"] or "0"
        ret = event.fields["ret"] or "0"
        self._leave(
            (event.comm, event.pid, event.tgid, event.cpu, b""),
            event.ts,
            (SYS_EXIT, int(nr), int(ret), nr, ret),
        )

    def _enter(self, head: Head, ts: float | bytes, body: SysBody) -> None:
        self._raw = True
        pid = head[1]
        if self._argv_due:
            self._argv_due.pop(pid, None)
        task = self._tasks.get(pid)
        if task is None:
            task = self._tasks[pid] = TaskState()
        else:
            if task.calls:
                # The previous syscall's exit was lost (or it never returns): settle it.
                self._settle(task)
            # An argv record belongs to the syscall it came in (an exec's), never to a later one.
            task.argv = None
        proc = self._proc_of(pid, head[2], ts, head[0])
        abi = proc.abi
        nr = body[1]
        task.nr = nr
        task.abi = abi
        if nr in abi.args_needed:
            task.args = self._args_of(body[2])  # type: ignore[arg-type]
        else:
            task.args = _NO_ARGS
        counts = proc.syscalls
        counts[nr] = counts.get(nr, 0) + 1

    def _args_of(self, text: str) -> tuple[int, ...]:
        """The six raw arguments of a syscall entry (hexadecimal text; they repeat)."""
        args = self._args.get(text)
        if args is None:
            if len(self._args) >= _ARGS_CACHE:
                self._args.clear()
            args = self._args[text] = (
                tuple(int(item, 16) for item in text.split(", ")) if text else _NO_ARGS
            )
        return args

    def _leave(self, head: Head, ts: float | bytes, body: SysBody) -> None:
        self._raw = True
        pid = head[1]
        if self._argv_due:
            self._argv_due.pop(pid, None)
        task = self._tasks.get(pid)
        if task is None:
            return
        nr = body[1]
        if nr == task.nr:
            ret: int = body[2]  # type: ignore[assignment]
            abi = task.abi or self._native
            if nr in abi.effects and ret >= 0:
                proc = self._proc_of(pid, head[2], ts, head[0])
                self._syscall_effects(proc, task, abi, nr, ret)
            for call in task.calls:
                call.sys_ret = ret
        if task.calls:
            self._settle(task)
        task.nr = None
        task.args = _NO_ARGS

    def _syscall_effects(
        self, proc: ProcessState, task: TaskState, abi: AbiNumbers, nr: int, ret: int
    ) -> None:
        """Keep the descriptor table and cwd in step with calls the probes do not cover."""
        args = task.args
        fds = proc.fds
        if nr in abi.opens:
            for call in reversed(task.calls):
                flags = call.event.get_int("flags") or 0
                if call.event.event == "open" and not flags & FMODE_EXEC:
                    is_dir = flags & call.abi.abi.O_DIRECTORY
                    kind: Literal["file", "dir"] = "dir" if is_dir else "file"
                    self._set_fd(proc, ret, FdEntry(kind, call.paths[0] if call.paths else None))
                    break
        elif nr in abi.close and args:
            if args[0] in fds:
                self._own_fds(proc).pop(args[0])
        elif nr in abi.dup and args:
            if args[0] in fds:
                self._set_fd(proc, ret, fds[args[0]])
        elif nr in abi.fcntl and len(args) > 1 and args[1] in _DUPFD:
            if args[0] in fds:
                self._set_fd(proc, ret, fds[args[0]])
        elif nr in abi.socket and len(args) > 1:
            # The type argument also carries SOCK_NONBLOCK/SOCK_CLOEXEC in its high bits.
            self._set_fd(proc, ret, FdEntry("socket", family=args[0], sotype=args[1] & 0xF))
        elif nr in abi.accept and args:
            listener = fds.get(args[0])
            if listener is not None:
                self._set_fd(proc, ret, listener)
        elif nr in abi.fchdir and args and ret == 0:
            entry = fds.get(args[0])
            if entry is not None and entry.path is not None and entry.kind != "socket":
                proc.cwd = entry.path

    def _set_fd(self, proc: ProcessState, fd: int, entry: FdEntry) -> None:
        if fd in proc.fds or len(proc.fds) < self.limits.fds_per_process:
            self._own_fds(proc)[fd] = entry

    @staticmethod
    def _own_fds(proc: ProcessState) -> dict[int, FdEntry]:
        if proc.fds_shared:
            proc.fds = dict(proc.fds)
            proc.fds_shared = False
        return proc.fds

    def _fork(self, event: TraceEvent) -> None:
        self._bound.clear()
        if self._argv_due:
            self._argv_due.pop(event.pid, None)
        parent = self._proc(event)
        child = event.get_int("child_pid")
        if child is None:
            return
        task = self._tasks.get(event.pid)
        if (
            task is not None
            and task.abi is not None
            and task.nr in task.abi.clone
            and task.args
            and task.args[0] & linux.CLONE_THREAD
        ):
            self._thread_owner[child] = parent.pid
            self._add_thread(parent, child)
            return
        if child == parent.pid:
            return
        if len(self._nodes) >= self.limits.processes:
            # Past the limit a descendant's activity is charged to its nearest recorded
            # ancestor rather than lost.
            self._drop("processes")
            self._live[child] = parent
            return
        self._thread_owner.pop(child, None)
        comm = event.get_str("child_comm") or event.comm
        self._new_proc(child, parent, event.ts, comm)
        # Whether clone made a process or a thread is only certain on the child's first line.
        self._tentative.add(child)

    def _argv(self, event: TraceEvent) -> None:
        pid = event.pid
        due = self._argv_due.pop(pid, None) if self._argv_due else None
        if due is not None and (event.tgid is None or event.tgid == due[0].pid):
            # The record of an exec just made (it fires on the return to user space here).
            self._apply_argv(*due, event)
            return
        self._task(pid).argv = event

    @staticmethod
    def _argv_of(argv_event: TraceEvent) -> tuple[list[str], int | None, bool]:
        argv: list[str] = []
        argc = argv_event.get_int("argc")
        if argc is None or argc < 0:
            return argv, argc, True
        for i in range(min(argc, 8)):
            value = argv_event.get_str(f"a{i}")
            argv.append(UNREADABLE if value is None else value)
        return argv, argc, argc > 8

    def _apply_argv(
        self, proc: ProcessState, record: ExecRecord | None, argv_event: TraceEvent
    ) -> None:
        """An argv record arriving after its exec: complete the exec and switch ABI."""
        argv, argc, truncated = self._argv_of(argv_event)
        proc.argv = argv
        proc.argv_truncated = truncated
        if record is not None:
            record.argv, record.argc, record.argv_truncated = argv, argc, truncated
        self._set_abi(proc, self.guest.variant(argv_event.variant))

    def _exec(self, event: TraceEvent) -> None:
        proc = self._proc(event)
        if proc.pid != event.pid:
            return
        old_pid = event.get_int("old_pid")
        stash = self._tasks.get(event.pid)
        argv_event = stash.argv if stash is not None else None
        if argv_event is None and old_pid is not None and old_pid in self._tasks:
            argv_event = self._tasks[old_pid].argv
        argv: list[str] = []
        argc: int | None = None
        truncated = False
        if argv_event is not None:
            argv, argc, truncated = self._argv_of(argv_event)
            for task in (stash, self._tasks.get(old_pid) if old_pid is not None else None):
                if task is not None:
                    task.argv = None
            self._set_abi(proc, self.guest.variant(argv_event.variant))
        self._argv_due.pop(event.pid, None)
        filename = self._resolve(proc, linux.AT_FDCWD, event.get_str("filename"))
        proc.image = filename
        proc.argv = argv
        proc.argv_truncated = truncated
        proc.comm = event.comm
        proc.cwd_shown = proc.cwd
        record = None
        if len(proc.execs) < self.limits.execs_per_process:
            record = ExecRecord(
                time=event.ts,
                time_utc=self._iso(event.ts),
                filename=filename,
                argv=argv,
                argc=argc,
                argv_truncated=truncated,
            )
            proc.execs.append(record)
        else:
            self._drop("execs")
        if argv_event is None:
            # Its argv may still come, on the return to user space (arm, arm64).
            self._argv_due[event.pid] = (proc, record)

    def _do_exit(self, event: TraceEvent) -> None:
        if self._argv_due:
            self._argv_due.pop(event.pid, None)
        proc = self._proc(event)
        task = self._tasks.get(event.pid)
        if task is not None and task.calls:
            self._settle(task)
        code = event.get_int("code")
        if code is None or proc.pid not in (event.pid, event.tgid):
            return
        leader = event.pid == proc.pid
        if leader or not proc.status_from_leader:
            proc.status = code
            proc.status_from_leader = leader

    def _task_exit(self, event: TraceEvent) -> None:
        self._bound.clear()
        if self._argv_due:
            self._argv_due.pop(event.pid, None)
        proc = self._proc(event)
        task = self._tasks.pop(event.pid, None)
        if task is not None and task.calls:
            self._settle(task)
        pid = event.pid
        if pid != proc.pid:
            self._thread_owner.pop(pid, None)
            if self._live.get(pid) is proc:
                # A descendant past the process limit, charged to its ancestor until now.
                del self._live[pid]
            return
        proc.exit = event.ts
        comm = event.get_str("comm")
        if comm:
            proc.comm = comm
        if self._live.get(pid) is proc:
            del self._live[pid]
        # An exited task can no longer turn out to have been a thread.
        self._tentative.discard(pid)

    # --- probe events and their results ------------------------------------------------
    def _call(self, event: TraceEvent) -> None:
        pid = event.pid
        if self._argv_due:
            self._argv_due.pop(pid, None)
        proc = self._proc_of(pid, event.tgid, event.ts, event.comm)
        task = self._tasks.get(pid)
        if task is None:
            task = self._tasks[pid] = TaskState()
        elif task.calls and not self._raw:
            # Without the raw syscall stream nothing else marks the end of a call.
            self._settle(task)
        calls = task.calls
        if len(calls) >= self._calls_max:
            self._finish_call(calls.pop(0))
        socket_fd = None
        abi = proc.abi
        if task.nr in (task.abi or abi).connect_bind and task.args:
            socket_fd = task.args[0]
        fields = event.fields
        path = fields.get("path")
        if (
            event.event in _DFD_PATH
            and fields.get("dfd") == "-100"
            and path is not None
            and path.startswith("/")
            and not ("//" in path or "/." in path or path.endswith("/"))
        ):
            # The usual call: an absolute path, normal already (as _resolve finds it).
            paths: tuple[str, ...] = (path,)
        else:
            paths = self._paths(event, proc)
        calls.append(PendingCall(event, proc, abi, paths, socket_fd))

    def _paths(self, event: TraceEvent, proc: ProcessState) -> tuple[str, ...]:
        # Resolved now: the cwd and descriptors in force when the call was made.
        name = event.event
        get_int, get_str = event.get_int, event.get_str
        if name in _DFD_PATH:
            dfd = event.fields.get("dfd")
            # The usual dfd, read as get_int reads it.
            at = linux.AT_FDCWD if dfd == "-100" else get_int("dfd")
            return (self._resolve(proc, at, get_str("path")),)
        if name in ("chmod", "chdir"):
            return (self._resolve(proc, linux.AT_FDCWD, get_str("path")),)
        if name in ("rename", "link"):
            return (
                self._resolve(proc, get_int("olddfd"), get_str("old")),
                self._resolve(proc, get_int("newdfd"), get_str("new")),
            )
        if name == "symlink":
            # The target is stored verbatim in the link: it is not resolved.
            target = get_str("target")
            return (
                UNREADABLE if target is None else target,
                self._resolve(proc, get_int("dfd"), get_str("path")),
            )
        return ()

    def _ret(self, event: TraceEvent) -> None:
        task = self._tasks.get(event.pid)
        if task is None:
            return
        kind = _RET_EVENTS[event.event]
        for call in reversed(task.calls):
            if call.event.event == kind and call.ret is None:
                call.ret = event.get_int("ret")
                if call.ret is None:
                    call.ret = 0
                if not self._raw:
                    task.calls.remove(call)
                    self._finish_call(call)
                return

    def _settle(self, task: TaskState) -> None:
        calls, task.calls = task.calls, []
        for call in calls:
            self._finish_call(call)

    def _finish_call(self, call: PendingCall) -> None:
        ok, error = outcome(call)
        name = call.event.event
        if name == "open":
            self._recorder.open_call(call, ok, error)
        elif name != "chdir":
            self._recorder.record(call, ok, error)
        elif ok is not False:
            call.proc.cwd = call.paths[0]

    # --- result ------------------------------------------------------------------------
    def finish(self) -> Behaviour:
        for task in self._tasks.values():
            self._settle(task)
        if self.root_pid is not None and self._root is None:
            self.errors.append(
                f"the sample's process (pid {self.root_pid}) was never seen executing: "
                "the exec failed or the trace is missing its start"
            )
        processes = [self._process(proc) for proc in self._nodes.values()]
        syscalls = Syscalls(ptrace=self.store.items("ptrace", PtraceCall))
        abis = self.guest.abis
        all_counts, per_process, total = syscalls.counts, syscalls.per_process, 0
        for proc in self._nodes.values():
            named: dict[str, int] = {}
            for abi_name, counts in proc.syscalls_by_abi.items():
                syscall_name = abis[abi_name].abi.syscall_name
                for nr, n in counts.items():
                    name = syscall_name(nr)
                    named[name] = named.get(name, 0) + n
                    all_counts[name] = all_counts.get(name, 0) + n
                    total += n
            if named:
                per_process[proc.key] = named
        if total:
            syscalls.total = total
        return Behaviour(
            processes=processes,
            process_tree=self._tree(),
            files=Files(
                read=self.store.items("read", FileAccess),
                written=self.store.items("written", FileAccess),
                created=self.store.items("created", FileCreate),
                deleted=self.store.items("deleted", FileDelete),
                renamed=self.store.items("renamed", FileRename),
                chmod=self.store.items("chmod", FileChmod),
                mkdir=self.store.items("mkdir", FileMkdir),
                links=self.store.items("links", FileLink),
                directories=self.store.items("directories", DirectoryOpen),
            ),
            network=Network(
                connections=self.store.items("connections", Connection),
                binds=self.store.items("binds", Bind),
                udp=self.store.items("udp", UdpSend),
                dns=self.store.items("dns", DnsQuery),
                unix=self.store.items("unix", UnixSocket),
            ),
            syscalls=syscalls,
            root=self._root.key if self._root is not None else None,
            pre_exec_dropped=self.pre_exec_dropped,
            truncated=dict(self.truncated),
            errors=list(self.errors),
            floods=list(self.floods),
        )

    def _process(self, proc: ProcessState) -> Process:
        code = signal = None
        if proc.status is not None:
            # do_exit receives a wait status: low 7 bits a signal, else the code in bits 8-15.
            if proc.status & 0x7F:
                signal = proc.status & 0x7F
            else:
                code = (proc.status >> 8) & 0xFF
        return Process(
            key=proc.key,
            pid=proc.pid,
            ppid=proc.ppid,
            parent=proc.parent,
            comm=proc.comm,
            image=proc.image,
            argv=proc.argv,
            argv_truncated=proc.argv_truncated,
            cwd=proc.cwd_shown,
            start=proc.start,
            start_utc=self._iso(proc.start),
            exit=proc.exit,
            exit_utc=self._iso(proc.exit),
            exit_code=code,
            exit_signal=signal,
            exit_signal_name=proc.abi.abi.signal_name(signal) if signal is not None else None,
            abi=proc.abi.name,
            threads=proc.threads,
            execs=proc.execs,
            children=[key for key in proc.children if key in self._nodes],
        )

    def _tree(self) -> list[ProcessTreeNode]:
        depth_limit = self.limits.tree_depth

        def node(proc: ProcessState, depth: int) -> ProcessTreeNode:
            item = ProcessTreeNode(
                key=proc.key, pid=proc.pid, comm=proc.comm, image=proc.image, argv=proc.argv
            )
            children = [self._nodes[key] for key in proc.children if key in self._nodes]
            if depth >= depth_limit:
                # Deeper levels stay in the flat list; JSON consumers recurse on this tree.
                item.truncated = bool(children)
                return item
            item.children = [node(child, depth + 1) for child in children]
            return item

        roots = [p for p in self._nodes.values() if p.parent is None or p.parent not in self._nodes]
        return [node(proc, 1) for proc in roots]


def build_behaviour(
    events: Iterable[TraceEvent],
    root_pid: int | None,
    initial_cwd: str = "/",
    clock: GuestClock | None = None,
    limits: Limits | None = None,
    guest: GuestAbi | str = DEFAULT_ARCH,
) -> Behaviour:
    """Run every event through a :class:`BehaviourBuilder` and return the result.

    ``guest`` is the architecture the trace comes from (a profile name, or its decoding).
    """
    builder = BehaviourBuilder(root_pid, initial_cwd, clock, limits, guest)
    builder.feed_all(events)
    return builder.finish()
