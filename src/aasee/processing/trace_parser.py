"""Defensive parser of the ftrace text the guest streams back (``trace.log``).

Owns turning raw lines into :class:`TraceEvent` records and counting everything it had to
skip. The text comes from a hostile guest: lines may be garbage, cut short, over-long, not
UTF-8, or forged by the sample through the strings the kernel prints unescaped (file names,
argv, process names). The parser never raises on content, bounds every line and number, and
reads the fields of each known event by the field names the probes were defined with, from
both ends, so that quotes, ``=`` and spaces inside strings cannot shift the other fields.

``trace.log`` holds one record per line: the host reassembles the guest's sealed records and
writes the line breaks their strings hold as NUL bytes, which :func:`read_trace_lines` turns
back into line breaks (a trace from before the seal may split a record over lines: the
parser joins those continuations as it always did).

Line format (``record-tgid`` on, ``trace_clock`` mono)::

    <comm>-<pid> (<tgid>) [<cpu>] <flags> <seconds>: <event>: [(<probe>)] <fields>

A known event may come as ``<event>__<suffix>``: a second probe for the same event through
another syscall ABI (``argv__i386``, ``chmod__i386`` on the x86-64 guest). Its fields are the
event's; the suffix is kept on the record as :attr:`TraceEvent.variant`.

Most of a trace is the same few header and event texts with a new timestamp each time: a
valid header (comm to flags, with the timestamp's seconds) and a recurring event text are
parsed once and remembered (bounded), each line then costs two cuts, two lookups and a check
of the timestamp's fraction. An event whose only string is a path (``open``) is remembered as
a template around the path. Events with several strings (``argv``, ``rename``) are read by one
pattern for their usual text. Whatever the remembered parts do not cover goes through the
general per-line code, with the same result (``tests/unit/processing/test_fast_paths.py``
compares the two on random and tricky traces). A large trace is parsed by a second process
(:mod:`.trace_worker`).
"""

from __future__ import annotations

import itertools
import operator
import os
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

__all__ = [
    "EVENT_FIELDS",
    "FRACTION_MAX",
    "MAX_LINE",
    "NO_HEAD",
    "SYS_ENTER",
    "SYS_EXIT",
    "Head",
    "Known",
    "MalformedRecord",
    "SysBody",
    "SysRecord",
    "TraceEvent",
    "TraceParser",
    "TraceStats",
    "parse_fields",
    "parse_trace",
    "read_trace_chunks",
    "read_trace_lines",
    "split_variant",
    "sys_event",
]

INNER_BREAK: Final = b"\x00"
"""A line break inside a record, as ``trace.log`` holds it (one record per line, see
``guest/trace_seal.py``); the kernel itself never prints a NUL."""
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
    # Written by the agent's flood guard, not the kernel: a task filtered out after its budget.
    "flood": _spec("pid:i events:i window_ms:i"),
}
"""Known events and their fields in print order, as defined by the in-guest tracer."""

# Fields a probe may print before those of its event: the arm64 argv probe reads the syscall
# number first (its filter keeps only the exit of a successful exec).
_LEADING: Final[dict[str, tuple[str, str]]] = {"argv": ("nr", INT)}
_VARIANT_RE = re.compile(r"[A-Za-z0-9]\w{0,31}", re.ASCII)

_TRACEPOINTS: Final = frozenset(
    {"sched_process_fork", "sched_process_exec", "sched_process_exit", "flood"}
)
"""Events printed without a ``(probe)`` part (the agent's flood records among them)."""
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


def _shape(spec: Spec) -> _Shape | None:
    """One pattern for the usual text of an event with at most one string field (no field
    ``(fault)``, strings quoted), and the names of its groups in :func:`parse_fields`' order.

    Where it matches, :func:`parse_fields` gives the same fields: with one string, the simple
    fields around it are the tokens at either end, and the string is all that lies between.
    Where it does not, :func:`parse_fields` decides.
    """
    if sum(kind not in _SIMPLE for _, kind in spec) > 1:
        return None
    parts = []
    for name, kind in spec:
        value = {
            INT: r"(-?\d{1,20})",
            HEX: r"(0x[0-9a-fA-F]{1,16})",
            STR: r'"(.*)"',
            TEXT: r"(.*)",
        }[kind]
        parts.append(re.escape(name) + "=" + value)
    hi = len(spec)
    while hi > 0 and spec[hi - 1][1] in _SIMPLE:
        hi -= 1
    lo = 0
    while lo < hi and spec[lo][1] in _SIMPLE:
        lo += 1
    # parse_fields fills its dict from the right end inwards, then from the left; the groups
    # come in print order.
    order = tuple(name for name, _ in reversed(spec[hi:])) + tuple(name for name, _ in spec[:hi])
    printed = [name for name, _ in spec]
    pick = operator.itemgetter(*(printed.index(name) for name in order))
    pattern = re.compile(" ".join(parts), re.ASCII | re.DOTALL)
    return pattern, order, pick


_Shape = tuple["re.Pattern[str]", tuple[str, ...], "operator.itemgetter[Any]"]
_SHAPES: Final[dict[str, _Shape]] = {
    name: shape for name, spec in EVENT_FIELDS.items() if (shape := _shape(spec)) is not None
}
# The same on the line's bytes, from the event's body on, probe first where the event has one:
# as _body reads it, the probe runs to the first ")" and one character follows it. Where the
# bytes match, the decoded text matches with the same fields (fields and separators are ASCII
# and text decoded with escapes adds no ")", quote, space or "0x" to them).
_BodyShape = tuple["re.Pattern[bytes]", bool, tuple[tuple[str, int], ...]]
"""(pattern, whether group 1 is the probe, (field, group) in parse_fields' order)."""


def _body_shape(name: str, shape: _Shape) -> _BodyShape:
    probed = name not in _TRACEPOINTS
    prefix = rb"\(([^)]*)\)(?s:.)" if probed else b""
    printed = [field for field, _ in EVENT_FIELDS[name]]
    order = tuple((field, printed.index(field) + 1 + probed) for field in shape[1])
    pattern = re.compile(prefix + shape[0].pattern.encode("ascii"), re.ASCII | re.DOTALL)
    return pattern, probed, order


def _fields_order(spec: Spec) -> tuple[str, ...]:
    """The order in which :func:`parse_fields` fills its dict: the simple fields at the right
    end (right to left), then the rest from the left."""
    hi = len(spec)
    while hi > 0 and spec[hi - 1][1] in _SIMPLE:
        hi -= 1
    return tuple(name for name, _ in reversed(spec[hi:])) + tuple(name for name, _ in spec[:hi])


def _strict_shape(name: str, spec: Spec) -> _BodyShape:
    """The usual text of an event with several string fields (``argv``, ``rename``, the fork
    tracepoint) as one pattern on the line's bytes, from its body on.

    A string that is not the last of them must hold no ``"`` (a text no space), and may be
    ``(fault)``; the last one runs to the simple fields after it, as :func:`parse_fields`
    reads it. Where the pattern matches, :func:`parse_fields` takes the first candidate end of
    each string (the only place its separator can start) and gives the same fields, within its
    search budget; where it does not, :func:`parse_fields` decides. A string group is None
    where the value was ``(fault)``.
    """
    loose = [i for i, (_, kind) in enumerate(spec) if kind not in _SIMPLE]
    last = loose[-1]
    parts = []
    for i, (name_i, kind) in enumerate(spec):
        if kind == INT:
            value = r"(-?\d{1,20})"
        elif kind == HEX:
            value = r"(0x[0-9a-fA-F]{1,16})"
        elif kind == STR:
            value = r'(?:\(fault\)|"(.*)")' if i == last else r'(?:\(fault\)|"([^"]*)")'
        else:
            value = r"(.*)" if i == last else r"([^ ]*)"
        parts.append(re.escape(name_i) + "=" + value)
    probed = name not in _TRACEPOINTS
    prefix = r"\(([^)]*)\)(?s:.)" if probed else ""
    printed = [item for item, _ in spec]
    order = tuple((item, printed.index(item) + 1 + probed) for item in _fields_order(spec))
    pattern = re.compile((prefix + " ".join(parts)).encode("ascii"), re.ASCII | re.DOTALL)
    return pattern, probed, order


_BODY_SHAPES: Final[dict[str, _BodyShape]] = {
    name: _body_shape(name, shape) for name, shape in _SHAPES.items()
} | {
    name: _strict_shape(name, spec)
    for name, spec in EVENT_FIELDS.items()
    if name not in _SHAPES and sum(kind not in _SIMPLE for _, kind in spec) > 1
}

_PATH: Final = b'path="'
_QUOTE: Final = b'"'


def _path_group(name: str) -> int | None:
    """The group of the ``path`` string in the body shape of an event whose only string it
    is (``open``, ``unlink``, ``mkdir``...): such events are remembered as templates."""
    spec = EVENT_FIELDS[name]
    strings = [(field, kind) for field, kind in spec if kind not in _SIMPLE]
    if strings != [("path", STR)] or name not in _SHAPES:
        return None
    return dict(_BODY_SHAPES[name][2])["path"]


_PATH_GROUPS: Final[dict[str, int]] = {
    name: group for name in EVENT_FIELDS if (group := _path_group(name)) is not None
}

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
    shape = _SHAPES.get(event)
    if shape is not None:
        pattern, names, pick = shape
        match = pattern.fullmatch(body)
        if match is not None:
            values = pick(match.groups())
            if len(names) == 1:
                return probe, {names[0]: values}
            return probe, dict(zip(names, values, strict=True))
    return probe, parse_fields(body, spec)


# --- the fast path -------------------------------------------------------------------------
# Most of a trace is the same few header and event texts over and over, with a new timestamp
# each time. A line is cut at its first ": " (the end of the timestamp) into its stamp (the
# header, comm to flags, and the timestamp's seconds) and tail ("<event>: <fields>"), and the
# stamp at its last "." into the header with the seconds and the fraction of a second. A
# header with its seconds and a tail are each validated (and parsed) once and remembered; the
# fraction is checked on every line. The cut and the checks are those of the whole-line
# patterns above: the header pattern is _FIXED_HEADER's up to the timestamp (a valid header
# is 16 columns of comm and more, so the first ": " of a line with a valid header is past its
# comm), the timestamp's seconds and fraction hold digits only (so its dot is the stamp's last
# and the space before it the last before the ": "), and an event name cannot begin with a
# digit, so a line whose parts are valid is a valid line parsed exactly as the whole-line
# patterns parse it. Anything else (the parts not known valid, a ": " inside the comm, a
# record being joined, an over-long line, a line ending in a line break) takes the general
# path above, which counts and reports it.
_HEAD = re.compile(
    rb"(.{16})-(\d{1,10}) +\( *(\d{1,10}|-+)\) +\[(\d{1,6})\] +(?:[^ \[\]]{1,16} +)?",
    re.ASCII | re.DOTALL,
)
_SECONDS = re.compile(rb"\d{1,12}", re.ASCII)
FRACTION_MAX: Final = 9
"""Digits of a timestamp's fraction of a second, at most (its seconds: 1 to 12)."""
_EVENT_NAME = re.compile(rb"[A-Za-z_]\w{0,63}", re.ASCII)
_CACHE_MAX: Final = 4096
_HEAD_MAX: Final = 160
_TAIL_MAX: Final = 400
# The fast path needs room for a remembered header and tail plus a timestamp in a line.
_FAST_MIN_LINE: Final = 1024
# Events whose text recurs: remembered after their first occurrence. Others (paths, argv,
# child pids) are parsed each time.
_RETURNS: Final = frozenset({"open_r", "connect_r", "unlink_r", "rename_r"})
_RECURRING: Final = frozenset(
    name
    for name, spec in EVENT_FIELDS.items()
    if name not in _TRACEPOINTS and all(kind in _SIMPLE for _, kind in spec)
)
"""Events of numbers only (returns, exit codes, socket addresses, ptrace requests)."""

Head = tuple[str, int, int | None, int, bytes]
"""(comm, pid, tgid, cpu, stamp) of a record header; ``stamp`` is the text of the timestamp's
seconds and dot where the header came with one (``b""`` otherwise)."""
_Template = tuple[str, str | None, dict[str, str | None], str | None]
"""(event, probe, fields with the path left to fill, variant) of an event text around a path."""
NO_HEAD: Final[Head] = ("", -1, None, -1, b"")
"""What :attr:`TraceParser.heads` holds for a text that is not a valid header."""
_NO_NAME: Final[tuple[str, str | None]] = ("", None)

SYS_ENTER: Final = 0
SYS_EXIT: Final = 1

SysBody = tuple[int, int, int | str, str, str]
"""(SYS_ENTER, nr, args text, nr text, args text) or (SYS_EXIT, nr, ret, nr text, ret text)."""
SysRecord = tuple[Head, bytes | float, SysBody]
"""A raw syscall record as :meth:`TraceParser.records` gives it: header, timestamp text (or
value, from :mod:`.trace_worker`), body."""


def sys_event(record: SysRecord) -> TraceEvent:
    """The :class:`TraceEvent` of a raw syscall record."""
    head, ts, body = record
    comm, pid, tgid, cpu = head[0], head[1], head[2], head[3]
    if body[0] == SYS_ENTER:
        return TraceEvent(
            comm, pid, tgid, cpu, float(ts), "sys_enter", {"nr": body[3], "args": body[4]}
        )
    return TraceEvent(comm, pid, tgid, cpu, float(ts), "sys_exit", {"nr": body[3], "ret": body[4]})


def _sys_body(name: str, body: bytes) -> SysBody | None:
    if name == "sys_enter":
        enter = _SYS_ENTER_BYTES.fullmatch(body)
        if enter is None:
            return None
        nr, args = enter[1].decode(), enter[2].decode()
        return (SYS_ENTER, int(nr), args, nr, args)
    leave = _SYS_EXIT_BYTES.fullmatch(body)
    if leave is None:
        return None
    nr, ret = leave[1].decode(), leave[2].decode()
    return (SYS_EXIT, int(nr), int(ret), nr, ret)


@dataclass(slots=True, frozen=True)
class Known:
    """A remembered event tail other than a raw syscall's (its fields are copied into each
    event made from it). ``ret`` is the value of a return probe (``*_r``) event."""

    name: str
    probe: str | None
    fields: dict[str, str | None]
    variant: str | None
    ret: int | None = None

    def event(self, head: Head, ts: float) -> TraceEvent:
        return TraceEvent(
            head[0], head[1], head[2], head[3], ts, self.name, dict(self.fields), self.probe,
            self.variant,
        )  # fmt: skip


_SYS_ENTER_BYTES = re.compile(_SYS_ENTER.pattern.encode(), re.ASCII)
_SYS_EXIT_BYTES = re.compile(_SYS_EXIT.pattern.encode(), re.ASCII)
_SYS_NAMES: Final = frozenset({"sys_enter", "sys_exit"})


class TraceParser:
    """Turns trace lines into events, counting into :attr:`stats` what it could not use.

    A record whose strings contain a line break arrives as several lines; those are joined
    back, but only with following lines that do not themselves look like a trace record.
    A record cut short by such a record-like line is dropped and counted as ``interrupted``:
    that is what a sample forging trace lines through a file name produces, and refusing to
    merge a plausible record into a string means forged text can add lines but never hide
    genuine ones.

    :attr:`stats` are complete once the lines are consumed (or the iteration is closed).
    A loop of its own over lines may take the remembered records itself (as
    :meth:`records` does: a header in :attr:`heads`, a valid timestamp, a tail in
    :attr:`tails`), hand every other line to :meth:`line`, and report its counts with
    :meth:`count` and the end of the lines with :meth:`end`.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.stats = TraceStats()
        self.fast = max_line >= _FAST_MIN_LINE
        """Whether the remembered parts may be used (room for them within ``max_line``)."""
        self.heads: dict[bytes, Head] = {}
        """Header text with the timestamp's seconds -> parsed header (:data:`NO_HEAD`: not a
        valid one)."""
        self.tails: dict[bytes, SysBody | Known] = {}
        """Tail text (after the ``": "`` that ends the timestamp) -> its parsed body."""
        self._templates: dict[tuple[bytes, bytes], _Template] = {}
        """The texts around the path of an event with no other string (see :meth:`fresh`)."""
        self._names: dict[bytes, tuple[str, str | None]] = {}
        self.pending: TraceEvent | None = None
        """A record whose text continues on the next line (a string held a line break)."""
        self._pending_body = ""

    def parse(self, lines: Iterable[bytes]) -> Iterator[TraceEvent]:
        """The events of ``lines``, in order."""
        for record in self.records(lines):
            yield record if isinstance(record, TraceEvent) else sys_event(record)

    def records(self, lines: Iterable[bytes]) -> Generator[TraceEvent | SysRecord, None, None]:
        """Like :meth:`parse`, but a raw syscall record comes as a :data:`SysRecord` tuple
        (no event object is built for the bulk of a trace)."""
        heads, tails = self.heads, self.tails
        fast = self.fast
        count = enters = exits = others = 0
        try:
            for raw in lines:
                count += 1
                if fast and self.pending is None:
                    stamp, _, tail = raw.partition(b": ")
                    stamp, _, fraction = stamp.rpartition(b".")
                    head = heads.get(stamp)
                    if head is None:
                        head = self.head_of(stamp)
                    if head is not NO_HEAD and fraction.isdigit() and len(fraction) <= FRACTION_MAX:
                        body = tails.get(tail)
                        if body is not None:
                            if type(body) is tuple:
                                if body[0] == SYS_ENTER:
                                    enters += 1
                                else:
                                    exits += 1
                                yield (head, head[4] + fraction, body)
                            else:
                                known: Known = body  # type: ignore[assignment]
                                others += 1
                                self.stats.by_event[known.name] += 1
                                yield known.event(head, float(head[4] + fraction))
                            continue
                record = self.line(raw)
                if record is not None:
                    yield record
            self.end()
        finally:
            self.count(count, enters, exits, others)

    def count(self, lines: int, enters: int = 0, exits: int = 0, others: int = 0) -> None:
        """Add what a loop of its own counted: lines read, remembered records taken (raw
        syscall entries and exits, other events already counted by name)."""
        stats = self.stats
        stats.lines += lines
        stats.parsed += enters + exits + others
        by_event = stats.by_event
        if enters:
            by_event["sys_enter"] = by_event.get("sys_enter", 0) + enters
        if exits:
            by_event["sys_exit"] = by_event.get("sys_exit", 0) + exits

    def end(self) -> None:
        """The lines are over: a record still waiting for its continuation is malformed."""
        if self.pending is not None:
            self.stats.malformed += 1
            self.pending = None

    def head_of(self, stamp: bytes) -> Head:
        """Parse and remember a header text with its timestamp's seconds (the line up to the
        timestamp's dot)."""
        heads = self.heads
        if len(heads) >= _CACHE_MAX:
            heads.clear()
        head = NO_HEAD
        key, space, seconds = stamp.rpartition(b" ")
        if space and len(key) < _HEAD_MAX and _SECONDS.fullmatch(seconds) is not None:
            match = _HEAD.fullmatch(key + b" ")
            if match is not None:
                comm, pid, tgid, cpu = match.groups()
                head = (
                    _comm(comm),
                    int(pid),
                    int(tgid) if tgid[0] != 0x2D else None,
                    int(cpu),
                    seconds + b".",
                )
        heads[stamp] = head
        return head

    def _name_of(self, raw: bytes) -> tuple[str, str | None]:
        names = self._names
        if len(names) >= _CACHE_MAX:
            names.clear()
        found = _NO_NAME
        if _EVENT_NAME.fullmatch(raw) is not None:
            name = raw.decode("ascii")
            found = split_variant(name) if "__" in name else (name, None)
        names[raw] = found
        return found

    def line(self, raw: bytes) -> TraceEvent | SysRecord | None:
        """The record of one line (None: none, or not yet: a continuation may follow),
        counted in :attr:`stats` except for the line itself."""
        if self.fast and self.pending is None:
            e = raw.find(b": ", 16)
            if e > 0:
                stamp, _, fraction = raw[:e].rpartition(b".")
                head = self.heads.get(stamp)
                if head is None:
                    head = self.head_of(stamp)
                if head is not NO_HEAD and fraction.isdigit() and len(fraction) <= FRACTION_MAX:
                    return self.fresh(raw, raw[e + 2 :], head[4] + fraction, head)
        return self._general(raw)

    def fresh(
        self, raw: bytes, tail: bytes, ts: bytes, head: Head
    ) -> TraceEvent | SysRecord | None:
        """:meth:`line` for a line cut at its first ``": "`` past the comm (``tail`` follows
        it) whose header is ``head``, with a valid timestamp ``ts`` and a tail not remembered
        (yet).

        An event whose only string is a path (``open``, ``unlink``...) recurs but for that
        path: the texts before it (through the first ``path="``) and after it (from the last
        ``"``) are remembered as a template once the body pattern has parsed a line with them
        and cut the path exactly there (see :meth:`_fast_tail`). The parts before the path
        have one way to match, and the path runs to the last place the text after it can
        start, which is its last quote: a line made of the same two texts around another
        path parses to the template's fields with that path.
        """
        row = self.templated(raw, tail, ts, head)
        if row is not None:
            return TraceEvent(*row)
        record = self._fast_tail(raw, tail, ts, head)
        return record if record is not None else self._general(raw)

    def templated(
        self, raw: bytes, tail: bytes, ts: bytes, head: Head
    ) -> (
        tuple[str, int, int | None, int, float, str, dict[str, str | None], str | None, str | None]
        | None
    ):
        """:meth:`fresh` for a line of a remembered template, as the fields of its
        :class:`TraceEvent` in order (counted); None for any other line (not counted)."""
        p = tail.find(_PATH)
        if p > 0 and len(raw) <= self.max_line:
            p += 6
            q = tail.rfind(_QUOTE)
            if q >= p:
                template = self._templates.get((tail[:p], tail[q:]))
                if template is not None:
                    name, probe, base, variant = template
                    fields = dict(base)
                    fields["path"] = tail[p:q].decode("utf-8", "backslashreplace")
                    stats = self.stats
                    stats.parsed += 1
                    stats.by_event[name] = stats.by_event.get(name, 0) + 1
                    return (
                        head[0],
                        head[1],
                        head[2],
                        head[3],
                        float(ts),
                        name,
                        fields,
                        probe,
                        variant,
                    )
        return None

    def _fast_tail(
        self, raw: bytes, tail: bytes, ts: bytes, head: Head
    ) -> TraceEvent | SysRecord | None:
        """The record of a line with a valid header and timestamp whose tail is not known yet,
        counted and its tail (or its template, see :meth:`fresh`) remembered if it recurs;
        None sends it to the general path."""
        if len(raw) > self.max_line or raw[-1] in (10, 13):
            return None
        colon = tail.find(b":")
        if colon < 0:
            return None
        found = self._names.get(tail[:colon])
        if found is None:
            found = self._name_of(tail[:colon])
        if found is _NO_NAME:
            return None
        name, variant = found
        spaced = tail[colon + 1 : colon + 2] == b" "
        start = colon + 2 if spaced else colon + 1
        stats = self.stats
        if name in _SYS_NAMES:
            sys_body = _sys_body(name, tail[start:])
            if sys_body is None:
                return None
            if len(tail) + 2 <= _TAIL_MAX:
                self._remember(tail, sys_body)
            stats.parsed += 1
            stats.by_event[name] = stats.by_event.get(name, 0) + 1
            return (head, ts, sys_body)
        body_shape = _BODY_SHAPES.get(name) if spaced else None
        match = body_shape[0].fullmatch(tail, start) if body_shape is not None else None
        if match is not None:
            _, probed, order = body_shape  # type: ignore[misc]
            probe = match[1].decode("utf-8", "backslashreplace") if probed else None
            fields: dict[str, str | None] = {}
            for field, group in order:
                value = match[group]
                fields[field] = None if value is None else value.decode("utf-8", "backslashreplace")
            group = _PATH_GROUPS.get(name)
            if group is not None:
                self._template(tail, match.span(group), name, probe, fields, variant)
        else:
            try:
                probe, fields = _body(name, tail[start:].decode("utf-8", "backslashreplace"))
            except MalformedRecord:
                return None
        if name in _RECURRING and len(tail) + 2 <= _TAIL_MAX:
            ret = None
            if name in _RETURNS:
                value = fields.get("ret")
                ret = 0 if value is None else int(value)
            self._remember(tail, Known(name, probe, dict(fields), variant, ret))
        stats.parsed += 1
        stats.by_event[name] = stats.by_event.get(name, 0) + 1
        return TraceEvent(
            head[0], head[1], head[2], head[3], float(ts), name, fields, probe, variant
        )

    def _template(
        self,
        tail: bytes,
        span: tuple[int, int],
        name: str,
        probe: str | None,
        fields: dict[str, str | None],
        variant: str | None,
    ) -> None:
        """Remember the texts around the path of an event the body pattern parsed, if they
        are where :meth:`fresh` cuts."""
        p = tail.find(_PATH) + 6
        if span != (p, tail.rfind(_QUOTE)) or p < 6:
            return
        templates = self._templates
        if len(templates) >= _CACHE_MAX:
            templates.clear()
        templates[(tail[:p], tail[span[1] :])] = (name, probe, dict(fields), variant)

    def _remember(self, tail: bytes, body: SysBody | Known) -> None:
        tails = self.tails
        if len(tails) >= _CACHE_MAX:
            tails.clear()
        tails[tail] = body

    def _general(self, raw: bytes) -> TraceEvent | None:
        """Any line, counted and reported one by one."""
        stats = self.stats
        by_event = stats.by_event
        max_line = self.max_line
        pending = self.pending
        if len(raw) > max_line + 2 or len(raw := raw.rstrip(b"\r\n")) > max_line:
            stats.too_long += 1
            if pending is not None:
                # Its continuation is lost: joining around the gap would invent a string.
                stats.malformed += 1
                self.pending = None
            return None
        if pending is None and (quick := _SYSCALL_LINE.fullmatch(raw)) is not None:
            comm, pid, tgid, cpu, ts, exit_nr, ret, enter_nr, args = quick.groups()
            if exit_nr is not None:
                name, fields = "sys_exit", {"nr": exit_nr.decode(), "ret": ret.decode()}
            else:
                name, fields = "sys_enter", {"nr": enter_nr.decode(), "args": args.decode()}
            stats.parsed += 1
            by_event[name] = by_event.get(name, 0) + 1
            return TraceEvent(
                _comm(comm),
                int(pid),
                int(tgid) if tgid[0] != 0x2D else None,
                int(cpu),
                float(ts),
                name,
                fields,
            )
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
                return None
            # A continuation: the previous record's string held a line break.
            event = pending
            body = self._pending_body + "\n" + raw.decode("utf-8", "backslashreplace")
            self.pending = None
            joined = True
        else:
            if pending is not None:
                stats.interrupted += 1
                stats.malformed += 1
                self.pending = None
            event, body = parsed
            joined = False
        try:
            event.probe, event.fields = _body(event.event, body)
        except MalformedRecord:
            if event.event in _MULTILINE and len(body) <= max_line:
                self.pending, self._pending_body = event, body
            else:
                stats.malformed += 1
            return None
        if joined:
            stats.joined += 1
        stats.parsed += 1
        by_event[event.event] = by_event.get(event.event, 0) + 1
        return event


def parse_trace(lines: Iterable[bytes], stats: TraceStats | None = None) -> Iterator[TraceEvent]:
    """Parse trace lines lazily; if ``stats`` is given it is complete once the lines are
    consumed (or the iteration is closed)."""
    parser = TraceParser()
    if stats is not None:
        parser.stats = stats
    return parser.parse(lines)


def read_trace_lines(
    source: str | os.PathLike[str] | BinaryIO, max_line: int = MAX_LINE
) -> Iterator[bytes]:
    """Stream the lines of a trace (without their newline), holding one bounded chunk.

    An over-long line is yielded cut to ``max_line + 3`` bytes (so the parser counts it as
    too long) and the rest of it is discarded while reading. The file is opened when the
    first line is asked for.
    """
    return itertools.chain.from_iterable(read_trace_chunks(source, max_line))


def read_trace_chunks(
    source: str | os.PathLike[str] | BinaryIO,
    max_line: int = MAX_LINE,
    digest: Any = None,
) -> Iterator[list[bytes]]:
    """The lines of :func:`read_trace_lines`, a list per chunk read; ``digest`` (a hashlib
    object), if given, is updated with every byte read."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield from _chunked_lines(handle, max_line, digest)
    else:
        yield from _chunked_lines(source, max_line, digest)


def _chunked_lines(handle: BinaryIO, max_line: int, digest: Any = None) -> Iterator[list[bytes]]:
    # Splitting large chunks in C is several times faster than readline() per line.
    limit = max_line + 3
    carry = b""
    skipping = False  # inside an over-long line already reported
    while chunk := handle.read(_READ_CHUNK):
        if digest is not None:
            digest.update(chunk)
        # A NUL stands for a line break inside a record (guest/trace_seal.py): rare, so
        # only a chunk holding one is looked at line by line.
        inner = INNER_BREAK in chunk or INNER_BREAK in carry
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines:
            if skipping:
                skipping = False
                del lines[0]
            else:
                lines[0] = carry + lines[0]
            carry = tail
        elif not skipping:
            carry += tail
        if lines and max(map(len, lines)) > limit:
            lines = [line if len(line) <= limit else line[:limit] for line in lines]
        if inner and lines:
            lines = [_restore_breaks(line) for line in lines]
        if not skipping and len(carry) > limit:
            lines.append(carry[:limit])
            carry = b""
            skipping = True
        if lines:
            yield lines
    if carry and not skipping:
        yield [_restore_breaks(carry)]


def _restore_breaks(line: bytes) -> bytes:
    return line.replace(INNER_BREAK, b"\n") if INNER_BREAK in line else line
