"""Defensive parser of the ftrace text the guest streams back (``trace.log``).

Owns turning raw lines into :class:`TraceEvent` records and counting everything it had to
skip. The text comes from a hostile guest: lines may be garbage, cut short, over-long, not
UTF-8, or forged by the sample through the strings the kernel prints unescaped (file names,
argv, process names). The parser never raises on content, bounds every line and number, and
reads the fields of each known event by the field names the probes were defined with, from
both ends, so that quotes, ``=`` and spaces inside strings cannot shift the other fields.

Line format (``record-tgid`` on, ``trace_clock`` mono)::

    <comm>-<pid> (<tgid>) [<cpu>] <flags> <seconds>: <event>: [(<probe>)] <fields>

A known event may come as ``<event>__<suffix>``: a second probe for the same event through
another syscall ABI (``argv__i386``, ``chmod__i386`` on the x86-64 guest). Its fields are the
event's; the suffix is kept on the record as :attr:`TraceEvent.variant`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

__all__ = [
    "EVENT_FIELDS",
    "MAX_LINE",
    "MalformedRecord",
    "TraceEvent",
    "TraceParser",
    "TraceStats",
    "parse_fields",
    "parse_trace",
    "read_trace_lines",
    "split_variant",
]

MAX_LINE: Final = 64 * 1024
"""Longest line (bytes, without the newline) that is parsed; longer ones are counted."""

# Field kinds: decimal integer, hexadecimal integer, quoted string, unquoted text.
INT: Final = "i"
HEX: Final = "x"
STR: Final = "s"
TEXT: Final = "t"
_SIMPLE: Final = frozenset({INT, HEX})

Spec = tuple[tuple[str, str], ...]


def _spec(text: str) -> Spec:
    return tuple((item.split(":")[0], item.split(":")[1]) for item in text.split())


_ARGV = "argc:i " + " ".join(f"a{i}:s" for i in range(8))
_SOCKADDR = "fam:i port:i addr:i a6hi:x a6lo:x len:i"

EVENT_FIELDS: Final[dict[str, Spec]] = {
    "open": _spec("dfd:i path:s flags:x mode:x"),
    "unlink": _spec("dfd:i path:s"),
    "rmdir": _spec("dfd:i path:s"),
    "mkdir": _spec("dfd:i path:s mode:x"),
    "rename": _spec("olddfd:i old:s newdfd:i new:s flags:x"),
    "symlink": _spec("target:s dfd:i path:s"),
    "link": _spec("olddfd:i old:s newdfd:i new:s"),
    "chmod": _spec("path:s mode:x"),
    "fchmodat": _spec("dfd:i path:s mode:x"),
    "fchmod": _spec("fd:i mode:x"),
    "chdir": _spec("path:s"),
    "argv": _spec(_ARGV),
    "connect": _spec(_SOCKADDR),
    "bind": _spec(_SOCKADDR),
    "bind6": _spec(_SOCKADDR),
    "udpsend": _spec("daddr:i dport:i fam:i port:i addr:i a6hi:x a6lo:x size:i"),
    "ptrace": _spec("request:i pid:i"),
    "exit": _spec("code:i"),
    "open_r": _spec("ret:i"),
    "connect_r": _spec("ret:i"),
    "unlink_r": _spec("ret:i"),
    "rename_r": _spec("ret:i"),
    "sched_process_fork": _spec("comm:t pid:i child_comm:t child_pid:i"),
    "sched_process_exec": _spec("filename:t pid:i old_pid:i"),
    "sched_process_exit": _spec("comm:t pid:i prio:i"),
}
"""Known events and their fields in print order, as defined by the in-guest tracer."""

# Fields a probe may print before those of its event: the arm64 argv probe reads the syscall
# number first (its filter keeps only the exit of a successful exec).
_LEADING: Final[dict[str, tuple[str, str]]] = {"argv": ("nr", INT)}
_VARIANT_RE = re.compile(r"[A-Za-z0-9]\w{0,31}", re.ASCII)

_TRACEPOINTS: Final = frozenset({"sched_process_fork", "sched_process_exec", "sched_process_exit"})
# Events whose text can legitimately span lines: a string the kernel prints raw may hold '\n'.
_MULTILINE: Final = frozenset(
    name for name, spec in EVENT_FIELDS.items() if any(k in (STR, TEXT) for _, k in spec)
)

# The kernel prints comm (at most 15 bytes) right-aligned in exactly 16 columns, so the
# bytes before column 16 are the comm whatever they contain: a process name cannot shift
# the pid, tgid or event that follow. Matching is done on bytes for that reason.
_FIXED_HEADER = re.compile(
    rb"(.{16})-(\d{1,10}) +\( *(\d{1,10}|-+)\) +\[(\d{1,6})\] +(?:[^ \[\]]{1,16} +)?"
    rb"(\d{1,12}\.\d{1,9}): ([A-Za-z_]\w{0,63}): ?",
    re.ASCII | re.DOTALL,
)
# Fallback for lines not in the canonical columns (e.g. leading blanks stripped by a tool).
# The tgid group is required: a forged "-pid (tgid) [cpu] ts: event:" needs at least 18
# characters, more than a 15-byte comm can hold.
_LOOSE_HEADER = re.compile(
    rb" *(.{1,64}?)-(\d{1,10}) +\( *(\d{1,10}|-+)\) +\[(\d{1,6})\] +(?:[^ \[\]]{1,16} +)?"
    rb"(\d{1,12}\.\d{1,9}): ([A-Za-z_]\w{0,63}): ?",
    re.ASCII | re.DOTALL,
)
# Raw syscall records are most of a trace: one match of the whole line takes them.
_SYSCALL_LINE = re.compile(
    rb"(.{16})-(\d{1,10}) +\( *(\d{1,10}|-+)\) +\[(\d{1,6})\] +(?:[^ \[\]]{1,16} +)?"
    rb"(\d{1,12}\.\d{1,9}): sys_(?:"
    rb"exit: NR (-?\d{1,10}) = (-?\d{1,20})"
    rb"|enter: NR (-?\d{1,10}) \(([0-9a-f]{1,16}(?:, [0-9a-f]{1,16}){0,5})\))",
    re.ASCII | re.DOTALL,
)
_SYS_ENTER = re.compile(r"NR (-?\d{1,10}) \(([0-9a-f]{1,16}(?:, [0-9a-f]{1,16}){0,5})\)", re.ASCII)
_SYS_EXIT = re.compile(r"NR (-?\d{1,10}) = (-?\d{1,20})", re.ASCII)
_INT_RE = re.compile(r"-?\d{1,20}", re.ASCII)
_HEX_RE = re.compile(r"0x[0-9a-fA-F]{1,16}", re.ASCII)
_FAULT: Final = "(fault)"
# Bounds the search among several candidate ends of a string holding a forged separator.
_SPLIT_BUDGET: Final = 256
_READ_CHUNK: Final = 1 << 20


class MalformedRecord(ValueError):
    """A known event whose fields do not have the shape its probe prints."""


@dataclass(slots=True)
class TraceEvent:
    """One trace record. ``fields`` hold the raw text of each field, validated for its kind.

    String fields are unquoted; ``None`` means the kernel printed ``(fault)`` (it could not
    read the value). Integer fields are guaranteed to convert with :meth:`get_int`.
    """

    comm: str
    pid: int
    tgid: int | None
    cpu: int
    ts: float
    event: str
    fields: dict[str, str | None]
    probe: str | None = None
    variant: str | None = None
    """The ``<suffix>`` of an ``<event>__<suffix>`` record (e.g. ``i386``), else None."""

    def get_int(self, name: str) -> int | None:
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            return None

    def get_str(self, name: str) -> str | None:
        return self.fields.get(name)

    def syscall_args(self) -> list[int]:
        """The six raw arguments of a ``sys_enter`` record (hexadecimal in the trace)."""
        args = self.fields.get("args")
        if not args:
            return []
        return [int(item, 16) for item in args.split(", ")]


@dataclass
class TraceStats:
    """What the parser saw. ``skipped`` counts lines that did not become events."""

    lines: int = 0
    parsed: int = 0
    comments: int = 0
    blank: int = 0
    too_long: int = 0
    garbage: int = 0
    malformed: int = 0
    joined: int = 0
    interrupted: int = 0
    by_event: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return self.too_long + self.garbage + self.malformed


def _simple(token: str, name: str, kind: str) -> str | None:
    if not token.startswith(name) or token[len(name) : len(name) + 1] != "=":
        raise MalformedRecord(name)
    value = token[len(name) + 1 :]
    if value == _FAULT:
        return None
    pattern = _INT_RE if kind == INT else _HEX_RE
    if pattern.fullmatch(value) is None:
        raise MalformedRecord(name)
    return value


def _middle(
    text: str,
    pos: int,
    end: int,
    spec: Spec,
    i: int,
    hi: int,
    out: dict[str, str | None],
    budget: list[int],
) -> bool:
    """Parse fields ``spec[i:hi]`` from ``text[pos:end]``; the last one runs to ``end``."""
    name, kind = spec[i]
    prefix = name + "="
    if not text.startswith(prefix, pos):
        return False
    start = pos + len(prefix)
    if i == hi - 1:
        value = text[start:end]
        if kind == TEXT:
            out[name] = value
            return True
        if value == _FAULT:
            out[name] = None
            return True
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            out[name] = value[1:-1]
            return True
        return False
    following = " " + spec[i + 1][0] + "="
    if kind in _SIMPLE:
        space = text.find(" ", start, end)
        if space < 0:
            return False
        try:
            out[name] = _simple(text[pos:space], name, kind)
        except MalformedRecord:
            return False
        return _middle(text, space + 1, end, spec, i + 1, hi, out, budget)
    if kind == STR:
        if text.startswith(_FAULT + following, start):
            out[name] = None
            if _middle(text, start + len(_FAULT) + 1, end, spec, i + 1, hi, out, budget):
                return True
        if not text.startswith('"', start):
            return False
        separator = '"' + following
        value_start = start + 1
    else:
        separator = following
        value_start = start
    search = value_start
    # The string may itself contain the separator; try each candidate end, leftmost first.
    while True:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        cut = text.find(separator, search, end)
        if cut < 0:
            return False
        out[name] = text[value_start:cut]
        if _middle(
            text, cut + len(separator) - len(following) + 1, end, spec, i + 1, hi, out, budget
        ):
            return True
        search = cut + 1


def parse_fields(text: str, spec: Spec) -> dict[str, str | None]:
    """Split the ``name=value`` fields of a known event; raises :class:`MalformedRecord`.

    Integer fields at either end are taken first (they hold no spaces), so a string can only
    be ambiguous against another string, never against the numbers around it.
    """
    out: dict[str, str | None] = {}
    hi = len(spec)
    end = len(text)
    while hi > 0 and spec[hi - 1][1] in _SIMPLE:
        name, kind = spec[hi - 1]
        if hi == 1:
            start, token = 0, text[:end]
        else:
            start = text.rfind(" ", 0, end)
            if start < 0:
                raise MalformedRecord(name)
            token = text[start + 1 : end]
        out[name] = _simple(token, name, kind)
        end = start
        hi -= 1
    if hi == 0:
        return out
    lo = 0
    pos = 0
    while spec[lo][1] in _SIMPLE:
        name, kind = spec[lo]
        space = text.find(" ", pos, end)
        if space < 0:
            raise MalformedRecord(name)
        out[name] = _simple(text[pos:space], name, kind)
        pos = space + 1
        lo += 1
    if not _middle(text, pos, end, spec, lo, hi, out, [_SPLIT_BUDGET]):
        raise MalformedRecord(spec[lo][0])
    return out


# Process names repeat on nearly every line; decoding each distinct one once saves time.
_COMM_CACHE: dict[bytes, str] = {}
_COMM_CACHE_MAX: Final = 4096


def _comm(raw: bytes) -> str:
    comm = _COMM_CACHE.get(raw)
    if comm is None:
        if len(_COMM_CACHE) >= _COMM_CACHE_MAX:
            _COMM_CACHE.clear()
        comm = _COMM_CACHE[raw] = raw.decode("utf-8", "backslashreplace").strip(" ")
    return comm


def _head(raw: bytes) -> tuple[TraceEvent, str] | None:
    """The event with its header filled in (fields still empty) and the text after it."""
    match = _FIXED_HEADER.match(raw) or _LOOSE_HEADER.match(raw)
    if match is None:
        return None
    comm, pid, tgid, cpu, ts, event = match.groups()
    name = event.decode("ascii")
    variant = None
    if "__" in name:
        name, variant = split_variant(name)
    head = TraceEvent(
        _comm(comm),
        int(pid),
        int(tgid) if tgid[0] != 0x2D else None,
        int(cpu),
        float(ts),
        name,
        {},
        variant=variant,
    )
    return head, raw[match.end() :].decode("utf-8", "backslashreplace")


def split_variant(name: str) -> tuple[str, str | None]:
    """``("argv", "i386")`` for ``argv__i386``; unknown events are returned whole.

    The return probe of a variant may be named either ``open__i386_r`` (the ``_r`` the tracer
    appends to any probe name) or ``open_r__i386``.
    """
    base, _, suffix = name.partition("__")
    if not suffix or _VARIANT_RE.fullmatch(suffix) is None:
        return name, None
    if base in EVENT_FIELDS:
        if suffix.endswith("_r") and base + "_r" in EVENT_FIELDS and len(suffix) > 2:
            return base + "_r", suffix[:-2]
        return base, suffix
    return name, None


def _body(event: str, body: str) -> tuple[str | None, dict[str, str | None]]:
    """Probe text and fields of one event; raises ``MalformedRecord``."""
    if event == "sys_enter":
        # "NR 257 (ffffff9c, 7fe082398ad0, 80000, 0, 0, a5c3a8)"
        match = _SYS_ENTER.fullmatch(body)
        if match is None:
            raise MalformedRecord(event)
        return None, {"nr": match[1], "args": match[2]}
    if event == "sys_exit":
        # "NR 257 = 4"
        match = _SYS_EXIT.fullmatch(body)
        if match is None:
            raise MalformedRecord(event)
        return None, {"nr": match[1], "ret": match[2]}
    spec = EVENT_FIELDS.get(event)
    if spec is None:
        # Unknown event (another tracepoint, a future probe): kept, without fields.
        return None, {}
    probe = None
    if event not in _TRACEPOINTS and body.startswith("("):
        # The probe location is printed by the kernel before any sample-controlled text,
        # and kernel symbols never contain ')'.
        close = body.find(")")
        if close < 0:
            raise MalformedRecord(event)
        probe = body[1:close]
        body = body[close + 2 :]
    lead = _LEADING.get(event)
    if lead is not None and body.startswith(lead[0] + "="):
        space = body.find(" ")
        if space < 0:
            raise MalformedRecord(event)
        value = _simple(body[:space], lead[0], lead[1])
        fields = parse_fields(body[space + 1 :], spec)
        fields[lead[0]] = value
        return probe, fields
    return probe, parse_fields(body, spec)


class TraceParser:
    """Turns trace lines into events, counting into :attr:`stats` what it could not use.

    A record whose strings contain a line break arrives as several lines; those are joined
    back, but only with following lines that do not themselves look like a trace record.
    A record cut short by such a record-like line is dropped and counted as ``interrupted``:
    that is what a sample forging trace lines through a file name produces, and refusing to
    merge a plausible record into a string means forged text can add lines but never hide
    genuine ones.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.stats = TraceStats()

    def parse(self, lines: Iterable[bytes]) -> Iterator[TraceEvent]:
        stats = self.stats
        by_event = stats.by_event
        max_line = self.max_line
        pending: TraceEvent | None = None
        pending_body = ""
        for raw in lines:
            stats.lines += 1
            if len(raw) > max_line + 2 or len(raw := raw.rstrip(b"\r\n")) > max_line:
                stats.too_long += 1
                if pending is not None:
                    # Its continuation is lost: joining around the gap would invent a string.
                    stats.malformed += 1
                    pending = None
                continue
            if pending is None and (fast := _SYSCALL_LINE.fullmatch(raw)) is not None:
                comm, pid, tgid, cpu, ts, exit_nr, ret, enter_nr, args = fast.groups()
                if exit_nr is not None:
                    name, fields = "sys_exit", {"nr": exit_nr.decode(), "ret": ret.decode()}
                else:
                    name, fields = "sys_enter", {"nr": enter_nr.decode(), "args": args.decode()}
                stats.parsed += 1
                by_event[name] = by_event.get(name, 0) + 1
                yield TraceEvent(
                    _comm(comm),
                    int(pid),
                    int(tgid) if tgid[0] != 0x2D else None,
                    int(cpu),
                    float(ts),
                    name,
                    fields,
                )
                continue
            parsed = _head(raw)
            if parsed is None:
                if pending is None:
                    stripped = raw.strip()
                    if not stripped:
                        stats.blank += 1
                    elif stripped[:1] == b"#":
                        stats.comments += 1
                    else:
                        stats.garbage += 1
                    continue
                # A continuation: the previous record's string held a line break.
                event, body = pending, pending_body + "\n" + raw.decode("utf-8", "backslashreplace")
                pending = None
                joined = True
            else:
                if pending is not None:
                    stats.interrupted += 1
                    stats.malformed += 1
                    pending = None
                event, body = parsed
                joined = False
            try:
                event.probe, event.fields = _body(event.event, body)
            except MalformedRecord:
                if event.event in _MULTILINE and len(body) <= max_line:
                    pending, pending_body = event, body
                else:
                    stats.malformed += 1
                continue
            if joined:
                stats.joined += 1
            stats.parsed += 1
            by_event[event.event] = by_event.get(event.event, 0) + 1
            yield event
        if pending is not None:
            stats.malformed += 1


def parse_trace(lines: Iterable[bytes], stats: TraceStats | None = None) -> Iterator[TraceEvent]:
    """Parse trace lines lazily; if ``stats`` is given it is filled in as lines are consumed."""
    parser = TraceParser()
    if stats is not None:
        parser.stats = stats
    return parser.parse(lines)


def read_trace_lines(
    source: str | os.PathLike[str] | BinaryIO, max_line: int = MAX_LINE
) -> Iterator[bytes]:
    """Stream the lines of a trace (without their newline), holding one bounded chunk.

    An over-long line is yielded cut to ``max_line + 3`` bytes (so the parser counts it as
    too long) and the rest of it is discarded while reading.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield from _chunked_lines(handle, max_line)
    else:
        yield from _chunked_lines(source, max_line)


def _chunked_lines(handle: BinaryIO, max_line: int) -> Iterator[bytes]:
    # Splitting large chunks in C is several times faster than readline() per line.
    limit = max_line + 3
    carry = b""
    skipping = False  # inside an over-long line already reported
    while chunk := handle.read(_READ_CHUNK):
        lines = chunk.split(b"\n")
        tail = lines.pop()
        for index, line in enumerate(lines):
            if index == 0:
                if skipping:
                    skipping = False
                    continue
                line = carry + line
                carry = b""
            yield line if len(line) <= limit else line[:limit]
        if lines:
            carry = tail
        elif not skipping:
            carry += tail
        if not skipping and len(carry) > limit:
            yield carry[:limit]
            carry = b""
            skipping = True
    if carry and not skipping:
        yield carry
