"""Parsing the kernel trace in a second process while the behaviour model reads the records.

Owns :func:`parsed_batches`: a forked child reads ``trace.log`` and parses it with its own
:class:`~.trace_parser.TraceParser` (:func:`produce`), as
:meth:`~.trace_parser.TraceParser.records` does, and sends the records in :class:`Batch` es
(one per chunk of the file) that the behaviour model applies in order
(:meth:`aasee.processing.behaviour.BehaviourBuilder.feed_batches`). Most records are a header
and a body the parser has seen before: they travel as two table ids (each header and body is
defined once) and a timestamp; the others (events with a text of their own: a path, an argv)
travel whole. The parse then takes the other core, and the model's loop is left with the
state changes.

Anything that goes wrong (no ``fork``, the child failing or dying, a pipe error, no batch for
:data:`~.forking.STALL` seconds) raises :class:`~.forking.OffloadFailed`; the caller then parses
in its own process, from the start, to the same result. The child only reads the trace and
writes to its pipe (see :mod:`.forking`).
"""

from __future__ import annotations

import fcntl
import hashlib
import pickle
from array import array
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from .forking import STALL, OffloadFailed, can_fork, end_child, fork_child
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
    read_trace_chunks,
)

__all__ = [
    "MIN_SIZE",
    "OTHER",
    "Batch",
    "OffloadFailed",
    "SysPair",
    "event_head",
    "OtherRecord",
    "parsed_batches",
    "produce",
    "record_of",
    "worth_offloading",
]

OTHER: Final = 0xFFFFFFFF
"""The header id of a record that travels whole (in :attr:`Batch.others`)."""
MIN_SIZE: Final = 8 << 20
"""Traces smaller than this are parsed in-process (the fork would cost more than it saves)."""
_PIPE_SIZE: Final = 1 << 20
_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_TABLE_MAX: Final = 1 << 16
"""Header (or body) texts given ids before both tables start over: bounds them on both sides."""

OtherRecord = tuple[Any, ...]
"""A record whole: ``(comm, pid, tgid, cpu, ts, event, fields, probe, variant)`` of a
:class:`TraceEvent` (with the body id of its return probe's record after it, when that came
on the next line: see :func:`produce`), or ``(head, timestamp text, body)`` of a raw
syscall."""
_RETURNED: Final[dict[int | str, str]] = {
    "open_r": "open",
    "unlink_r": "unlink",
    "rename_r": "rename",
}
"""Return probes, and the event whose result each gives."""
_PAIR: Final = 2
"""The kind of a :class:`SysPair` body (beside ``SYS_ENTER`` and ``SYS_EXIT``)."""
_NOT_ENTRY: Final = -(1 << 40)
_NOT_EXIT: Final = -(1 << 41)
"""Stand for no syscall number (those of the trace have at most 10 digits)."""


@dataclass(slots=True, frozen=True)
class SysPair:
    """A raw syscall's entry and its exit on the next line, of the same header (most calls
    return before the task does anything else): one record for the two, with the entry's
    timestamp (the exit's is never read: the entry has made the task's process)."""

    enter: SysBody
    exit: SysBody


@dataclass(slots=True)
class Batch:
    """The records of one chunk of the trace, in order."""

    reset: bool
    """The header and body tables start over, before this batch's definitions."""
    heads: list[Head]
    """Headers this batch defines: their ids follow those defined before."""
    bodies: list[SysBody | Known | SysPair]
    """Bodies this batch defines (a raw syscall's, a remembered event's, or a pair)."""
    head_ids: array[int]
    """Per record: its header's id, or :data:`OTHER` for a record in :attr:`others`."""
    body_ids: array[int]
    stamps: array[float]
    """Per record: its timestamp (0.0 for a record in :attr:`others`)."""
    others: list[OtherRecord]
    """The records whose header id is :data:`OTHER`, in order."""
    stats: dict[str, Any]
    """The parser's :class:`~.trace_parser.TraceStats` (as a dict) once it has read the
    batch's lines: final on the last batch."""
    last: bool = False
    sha256: str | None = None
    """The SHA-256 of the whole trace, on the last batch."""


def worth_offloading(path: Path) -> bool:
    """Whether parsing ``path`` in a second process is possible and worth a fork."""
    if not can_fork():
        return False
    try:
        return path.stat().st_size >= MIN_SIZE
    except OSError:
        return False


def event_head(event: TraceEvent) -> Head:
    """The header of an event (as a :class:`Known` record needs it)."""
    return (event.comm, event.pid, event.tgid, event.cpu, b"")


def record_of(other: OtherRecord) -> TraceEvent | SysRecord:
    """The record an :data:`OtherRecord` stands for."""
    if len(other) == 3:
        return other
    return TraceEvent(*other)


def parsed_batches(path: Path, stall: float = STALL) -> Generator[Batch, None, None]:
    """The batches of ``path``'s records, parsed by a forked child. Raises
    :class:`OffloadFailed` (at the start or part way) when that does not work out; closing
    the iterator early ends the child."""
    pid, reader = fork_child(
        lambda writer: produce(path, lambda b: writer.send_bytes(pickle.dumps(b, -1))),
        prepare=_widen,
    )
    finished = False
    try:
        while True:
            if not reader.poll(stall):
                raise OffloadFailed(f"the parsing process sent nothing for {stall} s")
            try:
                message = pickle.loads(reader.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise OffloadFailed(f"the parsing process stopped: {exc!r}") from exc
            if not isinstance(message, Batch):
                raise OffloadFailed(f"the parsing process failed: {message!r}")
            if message.last:
                finished = True
            yield message
            if finished:
                return
    finally:
        reader.close()
        end_child(pid, kill=not finished)


class _Bodies:
    """The child's table of bodies (a raw syscall's, a remembered event's, a pair of entry and
    exit), by id, with what the loop needs to know of each."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}  # tail text -> id
        self.pairs: dict[tuple[int, int], int] = {}  # (entry's id, exit's id) -> id
        self.bodies: list[SysBody | Known | SysPair] = []
        self.kinds: list[int | str] = []  # SYS_ENTER, SYS_EXIT, _PAIR or the event's name
        self.entered: list[int] = []  # the syscall number of an entry, else _NOT_ENTRY
        self.exited: list[int] = []  # the syscall number of an exit, else _NOT_EXIT
        self.new: list[SysBody | Known | SysPair] = []  # defined since the last batch

    def __len__(self) -> int:
        return len(self.bodies)

    def clear(self) -> None:
        for table in (self.ids, self.pairs, self.bodies, self.kinds, self.entered, self.exited):
            table.clear()

    def define(self, body: SysBody | Known | SysPair) -> int:
        bid = len(self.bodies)
        self.bodies.append(body)
        self.new.append(body)
        entered = exited = None
        if isinstance(body, SysPair):
            kind: int | str = _PAIR
        elif isinstance(body, Known):
            kind = body.name
        else:
            kind = body[0]
            if kind == SYS_ENTER:
                entered = body[1]
            else:
                exited = body[1]
        self.kinds.append(kind)
        self.entered.append(_NOT_ENTRY if entered is None else entered)
        self.exited.append(_NOT_EXIT if exited is None else exited)
        return bid

    def pair(self, enter: int, leave: int) -> int:
        bid = self.pairs.get((enter, leave))
        if bid is None:
            pair = SysPair(self.bodies[enter], self.bodies[leave])  # type: ignore[arg-type]
            bid = self.pairs[(enter, leave)] = self.define(pair)
        return bid


def produce(path: Path, send: Callable[[Batch], None]) -> None:
    """Parse ``path`` as :meth:`TraceParser.records` does and ``send`` its records in
    batches, each with the parser's stats so far (what the child runs).

    A line whose tail text the parser has remembered before, with a valid header and
    timestamp, is the same record as every other such line but for the timestamp: it goes as
    the ids of its header and tail texts (counted as :meth:`TraceParser.records` counts a
    remembered record), and a syscall's exit right after its entry (same header, same
    number) goes with it as one :class:`SysPair`. Any other line goes through the parser,
    which counts it; its tail, once the parser remembers it, gets an id for the lines to come.
    """
    parser = TraceParser()
    heads, tails, by_event = parser.heads, parser.tails, parser.stats.by_event
    fast = parser.fast
    head_ids: dict[bytes, int] = {}  # header text with seconds -> id (-1: not a header)
    defined: list[Head] = []  # per header id
    table = _Bodies()
    body_ids, entered, exited = table.ids, table.entered, table.exited
    reset = False
    free = fast
    digest = hashlib.sha256()
    for lines in read_trace_chunks(path, digest=digest):
        if len(head_ids) >= _TABLE_MAX or len(table) >= _TABLE_MAX:
            head_ids.clear()
            defined.clear()
            table.clear()
            reset = True
        new_heads: list[Head] = []
        table.new = []
        hids: array[int] = array("I")
        bids: array[int] = array("I")
        stamps: array[float] = array("d")
        whole: list[OtherRecord] = []
        add_head, add_body, add_stamp = hids.append, bids.append, stamps.append
        # The header id and syscall number of the last record, if it was a syscall's entry;
        # the header id and event of the last, if it was a probe event sent whole.
        last_hid = last_nr = call_hid = -1
        call_event = ""
        returns: dict[int, int] = {}  # return probes sent with their event, by body id
        for raw in lines:
            if free:
                stamp, cut, tail = raw.partition(b": ")
                stamp, _, fraction = stamp.rpartition(b".")
                hid = head_ids.get(stamp)
                if hid is None:
                    head = heads.get(stamp)
                    if head is None:
                        head = parser.head_of(stamp)
                    hid = -1 if head is NO_HEAD else len(defined)
                    head_ids[stamp] = hid
                    if hid >= 0:
                        defined.append(head)
                        new_heads.append(head)
                if hid < 0 or not fraction.isdigit() or len(fraction) > FRACTION_MAX:
                    record = parser.line(raw)
                else:
                    bid = body_ids.get(tail)
                    if bid is not None:
                        if hid == last_hid and exited[bid] == last_nr:
                            # The exit of the entry just sent: one record for the two.
                            bids[-1] = table.pair(bids[-1], bid)
                            last_hid = -1
                            continue
                        if hid == call_hid and _RETURNED.get(table.kinds[bid]) == call_event:
                            # The result of the probe event just sent: it goes with it.
                            whole[-1] += (bid,)
                            returns[bid] = returns.get(bid, 0) + 1
                            call_hid = -1
                            continue
                        add_head(hid)
                        add_body(bid)
                        add_stamp(float(defined[hid][4] + fraction))
                        last_hid, last_nr, call_hid = hid, entered[bid], -1
                        continue
                    if not cut:
                        record = parser.line(raw)
                    else:
                        head = defined[hid]
                        row = parser.templated(raw, tail, head[4] + fraction, head)
                        if row is not None:
                            # An event of a template (an open's path...): its fields as they go.
                            add_head(OTHER)
                            add_body(OTHER)
                            add_stamp(0.0)
                            whole.append(row)
                            last_hid = -1
                            call_hid, call_event = hid, row[5]
                            continue
                        record = parser.fresh(raw, tail, head[4] + fraction, head)
                        # A tail the parser now remembers goes by its id from now on.
                        body = tails.get(tail)
                        if body is not None:
                            body_ids[tail] = table.define(body)
                free = parser.pending is None
            else:
                record = parser.line(raw)
                free = fast and parser.pending is None
            if record is not None:
                add_head(OTHER)
                add_body(OTHER)
                add_stamp(0.0)
                whole.append(_whole(record))
                last_hid = call_hid = -1
        # The remembered records, counted as TraceParser.records counts them.
        enters = exits = others = 0
        for bid, n in Counter(bids).items():
            if bid != OTHER:
                kind = table.kinds[bid]
                if kind == SYS_ENTER:
                    enters += n
                elif kind == SYS_EXIT:
                    exits += n
                elif kind == _PAIR:
                    enters += n
                    exits += n
                else:
                    others += n
                    by_event[kind] += n  # type: ignore[index]
        for bid, n in returns.items():
            others += n
            by_event[table.kinds[bid]] += n  # type: ignore[index]
        parser.count(len(lines), enters, exits, others)
        new_bodies = table.new
        send(Batch(reset, new_heads, new_bodies, hids, bids, stamps, whole, asdict(parser.stats)))
        reset = False
    parser.end()
    stats = asdict(parser.stats)
    empty: tuple[array[int], array[int], array[float]] = (array("I"), array("I"), array("d"))
    send(Batch(False, [], [], *empty, [], stats, last=True, sha256=digest.hexdigest()))


def _widen(connection: Connection) -> None:
    """Let the pipe hold a few batches (Linux: 64 KiB by default), so that the child parses
    ahead while the parent is busy with one batch rather than wait for it to read."""
    try:
        fcntl.fcntl(connection.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass  # beyond /proc/sys/fs/pipe-max-size, or not Linux: the default size will do


def _whole(record: TraceEvent | SysRecord) -> OtherRecord:
    if isinstance(record, TraceEvent):
        return (
            record.comm, record.pid, record.tgid, record.cpu, record.ts, record.event,
            record.fields, record.probe, record.variant,
        )  # fmt: skip
    return record
