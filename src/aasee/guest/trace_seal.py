"""Reading the guest's sealed trace stream into one record per line (``trace.log``).

The kernel prints the strings of a record (file names, arguments, process names) raw, so a
sample that names a file ``"a\\n<text shaped like a record>"`` would put a record of its own
into a plain text trace. The in-guest tracer therefore ends every probe record with a seal,
`` k=0x<32 random bits>`` (an immediate value in the probe definition, which nobody in the
guest can read once the kernel is locked down, see ``guest/probes.py``): a record runs from
its first line to the first line ending with the seal, so the lines after a line break in a
string stay in that string. Records of tracepoints and raw syscalls carry no seal; their
strings are process names of at most 15 bytes (too short to hold a record) and exec'd file
names, which the kernel filter keeps out when they hold a line break.

The host writes each record on one line, seal taken off, line breaks inside it as NUL bytes
(the kernel never prints a NUL: its strings end there); the trace parser turns them back.
The seal itself never reaches the results.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["INNER_BREAK", "Unsealer"]

INNER_BREAK: Final = b"\x00"
"""What a line break inside a record becomes in ``trace.log``."""
MAX_RECORD: Final = 64 * 1024
_COMM_COLUMNS: Final = 16
# The header up to the event name, as ftrace prints it (comm in exactly 16 columns).
# The sched tracepoints print process names in their fields too: a record is whole once it
# ends with its last fields (a name of at most 15 bytes cannot hold a record of its own).
_TAILS = {
    b"sched_process_fork": re.compile(rb" pid=\d+ child_comm=(?s:.*) child_pid=\d+$"),
    b"sched_process_exit": re.compile(rb" pid=\d+ prio=-?\d+$"),
}
_TAILED = re.compile(rb": (sched_process_fork|sched_process_exit): comm=")
MAX_NAME_LINES = 16
_EVENT = re.compile(
    rb"(?s:.{16})-\d{1,10} +\( *(?:\d{1,10}|-+)\) +\[\d{1,6}\] +(?:[^ \[\]]{1,16} +)?"
    rb"\d{1,12}\.\d{1,9}: ([A-Za-z_]\w{0,63}): \("
)


class Unsealer:
    """Turns the chunks of a sealed stream into whole records, one per output line.

    ``sealed`` names the events whose records end with the seal (the probes); ``every``
    says every record does. A process name with a line break splits a header: a short line
    that cannot be a record is held and put back in front of the next one. A record that
    grows past :data:`MAX_RECORD` without its seal is given up as it is (the parser then
    counts it as malformed), and so is one still open when the stream ends.
    """

    def __init__(self, seal: int, sealed: Iterable[str] = (), every: bool = False) -> None:
        self.seal = f" k={seal:#x}".encode()
        self.sealed = frozenset(name.encode() for name in sealed)
        self.every = every
        self.records = 0
        self.unfinished = 0
        """Records given up without their seal (too long, or cut by the end of the stream)."""
        self._partial = b""
        self._record: list[bytes] = []
        self._size = 0
        self._held = b""
        self._tail: re.Pattern[bytes] | None = None
        """The end a record cut by a process name awaits (sched tracepoints), if any."""

    def feed(self, chunk: bytes) -> bytes:
        """The complete records ``chunk`` ends, as ``trace.log`` lines (maybe none)."""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_RECORD:
            lines.append(self._partial)
            self._partial = b""
        out: list[bytes] = []
        for line in lines:
            record = self._line(line)
            if record is not None:
                out.append(record)
        self.records += len(out)
        return b"".join(out)

    def finish(self) -> bytes:
        """Whatever the stream left open, written as it is."""
        out = b""
        if self._partial:
            out += self.feed(b"\n")
        if self._record:
            if self._tail is not None:
                self._tail = None
                joined = b"\n".join(self._record)
                self._record = []
                out += joined.replace(b"\n", INNER_BREAK) + b"\n"
            else:
                out += self._close(sealed=False)
        if self._held:
            out += self._held + b"\n"
            self._held = b""
        return out

    def _line(self, line: bytes) -> bytes | None:
        seal = self.seal
        if self._tail is not None:
            self._record.append(line)
            joined = b"\n".join(self._record)
            if self._tail.search(joined) or len(self._record) > MAX_NAME_LINES:
                self._tail = None
                self._record = []
                return joined.replace(b"\n", INNER_BREAK) + b"\n"
            return None
        if self._record:
            self._record.append(line)
            self._size += len(line) + 1
            if line.endswith(seal):
                return self._close(sealed=True)
            if self._size > MAX_RECORD:
                return self._close(sealed=False)
            return None
        if self._held:
            # The rest of a header whose process name held line breaks.
            line = self._held + INNER_BREAK + line
            self._held = b""
        if line.endswith(seal):
            return line[: -len(seal)] + b"\n"
        if self.every or self._opens_sealed(line):
            self._record = [line]
            self._size = len(line)
            return None
        if len(line) < _COMM_COLUMNS and line.strip():
            self._held = line  # the start of a process name holding a line break
            return None
        tail = self._name_cut(line)
        if tail is not None:
            self._tail = tail
            self._record = [line]
            return None
        return line + b"\n"

    @staticmethod
    def _name_cut(line: bytes) -> re.Pattern[bytes] | None:
        """The end a sched tracepoint record still lacks when a process name in its fields
        held a line break; None when the line is whole or another kind."""
        event = _TAILED.search(line)
        if event is None:
            return None
        tail = _TAILS[event.group(1)]
        return None if tail.search(line) else tail

    def _opens_sealed(self, line: bytes) -> bool:
        if b": (" not in line:  # every probe record prints "<event>: (<probe>)"
            return False
        match = _EVENT.match(line)
        return match is not None and match.group(1) in self.sealed

    def _close(self, sealed: bool) -> bytes:
        joined = b"\n".join(self._record)
        self._record = []
        if sealed:
            joined = joined[: -len(self.seal)]
        else:
            self.unfinished += 1
        return joined.replace(b"\n", INNER_BREAK) + b"\n"
