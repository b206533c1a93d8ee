"""Where a file's bytes came from: the network, and the processes that moved them since.

Owns :class:`Provenance`: which paths hold data a process fetched from the network, and the
records that show how it got there. The fetcher may write the file itself (``wget -O x``),
or another process may move the data on:

- a rename or a link (``mv``, ``ln``) puts it under a new path;
- a data-moving program (``cp``, ``cat``, ``install``, ``gunzip``, ``tar``...) that read a
  downloaded file writes it elsewhere;
- a pipeline stage that reads its standard input (``tee x``, ``cat > x``, ``base64 -d > x``)
  writes what an earlier, still running sibling fetched (``wget -O- URL | tee x``);
- a shell's redirection: dash opens ``> x`` itself and then forks the command, so in
  ``wget -O- URL > x`` the file is written by the shell and the data comes from its child.
  The report has no file descriptors, so a builtin's redirection followed at once by such a
  command (``echo x > f; wget -O- URL``) reads the same; only a known fetcher told to print
  (or a mover printing a downloaded file) forked within :data:`REDIRECT_GAP` counts.

Each step is kept narrow (known programs, a command line that says the data goes through
standard input or output, overlapping lifetimes, the right order in time) so that ordinary
work near a download does not become one. The record kinds are the report's; the answers
point at the report's own records (:class:`~.query.Found`).
"""

from __future__ import annotations

import posixpath
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .commands import SHELLS, Command, program_name

if TYPE_CHECKING:
    from ..models import Process
    from .query import Found, ReportIndex

__all__ = [
    "FETCHERS",
    "MOVERS",
    "Download",
    "Origin",
    "Provenance",
    "Step",
    "fetches_to_stdout",
    "reads_stdin",
    "writes_stdout",
]

FETCHERS = frozenset(
    {"curl", "wget", "fetch", "tftp", "lwp-download", "GET", "lwp-request", "aria2c",
     "ftpget", "nc", "ncat", "netcat", "socat", "telnet"}
)  # fmt: skip
"""Programs whose job is to fetch data from the network."""
MOVERS = frozenset(
    {"cp", "install", "mv", "rsync", "dd", "cat", "tac", "tee", "head", "tail", "gzip",
     "gunzip", "zcat", "xz", "unxz", "xzcat", "bzip2", "bunzip2", "bzcat", "zstd", "unzstd",
     "zstdcat", "lz4", "base64", "base32", "basenc", "xxd", "uudecode", "openssl", "tar",
     "unzip", "cpio", "7z", "7za", "ar", "uncompress"}
)  # fmt: skip
"""Programs that copy, unpack or decode data without changing what it is."""
# Programs that always print what they read (no output file of their own).
_PRINTERS = frozenset(
    {"cat", "tac", "head", "tail", "zcat", "xzcat", "bzcat", "zstdcat", "base64", "base32",
     "basenc", "tee"}
)  # fmt: skip
# Programs that print when told to (-c) or when they read standard input.
_COMPRESSORS = frozenset(
    {"gzip", "gunzip", "xz", "unxz", "bzip2", "bunzip2", "zstd", "unzstd", "lz4", "uncompress"}
)
# Options that take the next argument as their value, per program.
_VALUED = {
    "head": frozenset({"-n", "-c", "--lines", "--bytes"}),
    "tail": frozenset({"-n", "-c", "--lines", "--bytes", "-s", "--sleep-interval", "--pid"}),
    "base64": frozenset({"-w", "--wrap"}),
    "base32": frozenset({"-w", "--wrap"}),
    "basenc": frozenset({"-w", "--wrap"}),
    "gzip": frozenset({"-S", "--suffix"}),
    "gunzip": frozenset({"-S", "--suffix"}),
    "xz": frozenset({"-T", "--threads", "-F", "--format", "-C", "--check", "-M"}),
    "unxz": frozenset({"-T", "--threads", "-F", "--format", "-M"}),
    "zstd": frozenset({"-o", "-T", "-D", "--format"}),
    "unzstd": frozenset({"-o", "-T", "-D"}),
    "xxd": frozenset({"-c", "-g", "-l", "-s", "-o", "-n", "-cols", "-len", "-seek"}),
    "uudecode": frozenset({"-o", "--output-file"}),
}
_STDOUT_NAMES = frozenset({"-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})
_STDIN_NAMES = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
R = TypeVar("R")
PIPE_WINDOW = 16
"""Earlier siblings a pipeline stage looks back over for the stage that feeds it."""
REDIRECT_GAP = 0.05
"""Seconds between a shell opening a file and forking the command its redirection is for
(measured in the guest under TCG: well under a millisecond)."""
_ROUNDS = 8
_PSEUDO_DIRS = ("/dev/", "/proc/", "/sys/")
_STORAGE_UNDER_DEV = ("/dev/shm/",)


@dataclass(frozen=True, slots=True)
class Step:
    """One record on the way from the network to a file, and what it shows."""

    found: Found[Any]
    summary: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Data that came from the network: who fetched it, and the records that show how."""

    fetcher: str
    """Key of the process that talked to the network."""
    steps: tuple[Step, ...]
    """The fetch first (HTTP request, connection), then each move of the data."""


@dataclass(frozen=True, slots=True)
class Download(Origin):
    """A path holding downloaded data; the last step is the record that put it there."""

    path: str = ""
    time: float = 0.0
    """When the data arrived at ``path``."""


def _operands(command: Command) -> list[str]:
    """The arguments that are not options nor the values of options."""
    valued = _VALUED.get(command.name, frozenset())
    operands: list[str] = []
    args = command.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1 :])
            break
        if arg == "-" or not arg.startswith("-"):
            operands.append(arg)
        elif arg in valued:
            i += 1
        i += 1
    return operands


def _option_value(args: tuple[str, ...], short: str, long: str) -> str | None:
    """The value of ``-X VALUE``/``-XVALUE``/``-abX VALUE``/``--long=VALUE``, if given."""
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == long:
            return following
        if arg.startswith(long + "="):
            return arg[len(long) + 1 :]
        if arg.startswith("-") and not arg.startswith("--") and short in arg[1:]:
            rest = arg[arg.index(short, 1) + 1 :]
            return rest or following
    return None


def _dd_operand(command: Command, key: str) -> str | None:
    for arg in command.args:
        if arg.startswith(key + "="):
            return arg[len(key) + 1 :]
    return None


def _tar_archive(command: Command) -> str | None:
    """The archive tar works on (``-f``, ``--file``, or ``f`` of an old-style ``xzf``)."""
    args = command.args
    if args and not args[0].startswith("-") and "f" in args[0]:
        return args[1] if len(args) > 1 else None
    return _option_value(args, "f", "--file")


def fetches_to_stdout(command: Command) -> bool | None:
    """Whether a fetcher prints what it fetches (``curl URL``, ``wget -O- URL``); ``None``
    when ``command`` is not a known fetcher."""
    name, args = command.name, command.args
    if name == "wget":
        value = _option_value(args, "O", "--output-document")
        return value is not None and value in _STDOUT_NAMES
    if name == "curl":
        if any(a in ("-O", "--remote-name", "--remote-name-all") for a in args):
            return False
        if any(a.startswith("-") and not a.startswith("--") and "O" in a[1:] for a in args):
            return False
        value = _option_value(args, "o", "--output")
        return value is None or value in _STDOUT_NAMES
    if name == "fetch":
        value = _option_value(args, "o", "--output")
        return value is not None and value in _STDOUT_NAMES
    if name in ("GET", "lwp-request", "nc", "ncat", "netcat", "socat", "telnet"):
        return True
    if name in FETCHERS:
        return False
    return None


def writes_stdout(command: Command) -> bool:
    """Whether a data-moving program prints the data it reads (``cat f``, ``gunzip -c f``)."""
    name = command.name
    if name in _PRINTERS:
        return True
    if name in _COMPRESSORS:
        return bool({"-c", "--stdout", "--to-stdout"} & set(command.args)) or reads_stdin(command)
    if name == "dd":
        return _dd_operand(command, "of") is None
    if name == "openssl":
        return "-out" not in command.args
    if name == "xxd":
        return len(_operands(command)) <= 1
    if name == "uudecode":
        return _option_value(command.args, "o", "--output-file") in _STDOUT_NAMES
    return False


def reads_stdin(command: Command) -> bool:
    """Whether a data-moving program reads its standard input (``tee x``, ``cat > x``)."""
    name = command.name
    if name == "tee":
        return True
    if name == "dd":
        return _dd_operand(command, "if") in (None, *_STDIN_NAMES)
    if name == "openssl":
        return "-in" not in command.args
    if name == "tar":
        return _tar_archive(command) in (None, "-")
    if name == "cpio":
        return True
    if name in _PRINTERS | _COMPRESSORS or name in ("xxd", "uudecode"):
        operands = _operands(command)
        return not operands or operands[0] == "-"
    return False


class Provenance:
    """Downloads of one report, and what the network piped into processes.

    Built once per report (:attr:`.query.ReportIndex.provenance`). The work stays about
    linear in the report: siblings are looked up by start time, a pipeline stage looks back
    over at most :data:`PIPE_WINDOW` earlier siblings, and each propagation round is one pass
    over the records, at most :data:`_ROUNDS` rounds (a longer chain of moves is cut there).
    """

    def __init__(self, ctx: ReportIndex) -> None:
        self._ctx = ctx
        self._processes: dict[str, Process] = {p.key: p for p in ctx.report.processes}
        self._commands: dict[str, list[Command]] = {
            p.key: [Command(*program_name(e.filename, e.argv)) for e in p.execs]
            for p in ctx.report.processes
        }
        children: dict[str, list[Process]] = {}
        for process in ctx.report.processes:
            if process.parent is not None and process.start is not None:
                children.setdefault(process.parent, []).append(process)
        self._children = {k: sorted(v, key=_start) for k, v in children.items()}
        self._child_starts = {k: [_start(p) for p in v] for k, v in self._children.items()}
        self._writes = _by_process(ctx.all_files("written"))
        self._reads = _by_process(ctx.all_files("read"))
        self._requests = _first_by_process(ctx.http())
        self._points = _first_by_process(
            [e for e in ctx.endpoints() if e.item.port != 53 and e.item.proto != "udp"]
        )
        self._any_points = _first_by_process(ctx.endpoints())
        self._lookups = _first_by_process(ctx.dns_names)
        self._outputs: dict[tuple[str, bool], Origin | None] = {}
        self.downloads: dict[str, Download] = {}
        """Each path that came to hold downloaded data, with the first way it did."""
        self._trace()

    # --- what one process is -----------------------------------------------------------
    def _name(self, key: str) -> str:
        commands = self._commands.get(key)
        if commands:
            return commands[-1].name
        process = self._processes.get(key)
        return posixpath.basename(process.image or "") if process is not None else ""

    def label(self, key: str) -> str:
        """How evidence names a process: its program (a busybox applet by name) and pid."""
        process = self._processes.get(key)
        return f"{self._name(key) or 'a process'} (pid {process.pid if process else '?'})"

    def _is_shell(self, key: str) -> bool:
        """Runs a shell: executed one, or a ``#!`` script (argv[0] is then the interpreter)."""
        process = self._processes.get(key)
        if process is None:
            return False
        if any(c.name in SHELLS for c in self._commands.get(key, ())):
            return True
        return any(e.argv and posixpath.basename(e.argv[0]) in SHELLS for e in process.execs)

    def _movers(self, key: str) -> list[Command]:
        return [c for c in self._commands.get(key, ()) if c.name in MOVERS]

    def _first_exec(self, key: str) -> float | None:
        process = self._processes.get(key)
        return process.execs[0].time if process is not None and process.execs else None

    def fetch_steps(self, key: str) -> tuple[Step, ...]:
        """The records that show ``key`` fetching: its first HTTP request and connection."""
        steps: list[Step] = []
        request = self._requests.get(key)
        if request is not None:
            steps.append(Step(request, f"{request.item.method} {request.item.url}"))
        point = self._points.get(key) or self._any_points.get(key)
        if point is not None:
            verb = "connected to" if point.item.proto != "udp" else "sent to"
            steps.append(Step(point, f"{verb} {point.item.ip} port {point.item.port}"))
        lookup = self._lookups.get(key)
        if not steps and lookup is not None:
            steps.append(Step(lookup, f"looked up {lookup.item}"))
        return tuple(steps)

    # --- where a process's output comes from -------------------------------------------
    def _network_output(self, key: str, strict: bool) -> Origin | None:
        """The process prints what it fetched. ``strict``: only a known fetcher told to."""
        if key not in self._ctx.network_processes:
            return None
        verdicts = [fetches_to_stdout(c) for c in self._commands.get(key, ())]
        if False in verdicts or (strict and True not in verdicts):
            return None  # it saves what it fetches to a file of its own
        return Origin(key, self.fetch_steps(key))

    def _copied_output(self, key: str) -> Origin | None:
        """The process prints a downloaded file it read (``cat dl``, ``gunzip -c dl.gz``)."""
        movers = [c for c in self._movers(key) if writes_stdout(c)]
        if not movers:
            return None
        for read in self._reads.get(key, ()):
            source = self._before(read.item.path, read.item.time)
            if source is not None:
                step = Step(read, f"{movers[-1].name} read {read.item.path}")
                return Origin(source.fetcher, (*source.steps, step))
        return None

    def output_of(self, key: str, strict: bool = False) -> Origin | None:
        """Downloaded data the process ``key`` prints on its standard output, if any."""
        memo = (key, strict)
        if memo not in self._outputs:
            self._outputs[memo] = self._network_output(key, strict) or self._copied_output(key)
        return self._outputs[memo]

    def piped_into(self, key: str) -> tuple[str, Origin] | None:
        """An earlier sibling, still running when ``key`` started, that prints downloaded
        data: (its key, where the data came from). What a pipeline stage reads."""
        process = self._processes.get(key)
        if process is None or process.parent is None or process.start is None:
            return None
        siblings = self._children.get(process.parent, [])
        end = bisect_right(self._child_starts.get(process.parent, []), process.start)
        # Stages of one pipeline are forked one after the other: look back a few only.
        for sibling in reversed(siblings[max(0, end - PIPE_WINDOW) : end]):
            if sibling.key == key or (sibling.exit is not None and sibling.exit < process.start):
                continue
            origin = self.output_of(sibling.key)
            if origin is not None:
                return sibling.key, origin
        return None

    # --- propagation -------------------------------------------------------------------
    def _add(self, path: str, time: float, origin: Origin, step: Step) -> bool:
        if path in self.downloads or _pseudo(path):
            return False
        self.downloads[path] = Download(origin.fetcher, (*origin.steps, step), path, time)
        return True

    def _trace(self) -> None:
        networked = self._ctx.network_processes
        for key, writes in self._writes.items():
            if key in networked:
                fetched = Origin(key, self.fetch_steps(key))
                for found in writes:
                    step = Step(found, f"wrote {found.item.path} while talking to the network")
                    self._add(found.item.path, found.item.time, fetched, step)
        for _ in range(_ROUNDS):
            self._outputs.clear()  # a process's output may be known to be downloaded now
            grew = [
                self._renames(),
                self._links(),
                self._copies(),
                self._pipes(),
                self._redirections(),
            ]
            if not any(grew):
                break

    def _before(self, path: str, time: float) -> Download | None:
        download = self.downloads.get(path)
        return download if download is not None and download.time <= time else None

    def _renames(self) -> bool:
        grew = False
        for found in self._ctx.all_files("renamed"):
            item = found.item
            source = self._before(item.src, item.time)
            if item.ok is not False and source is not None:
                step = Step(found, f"renamed {item.src} to {item.dst}")
                grew |= self._add(item.dst, item.time, source, step)
        return grew

    def _links(self) -> bool:
        grew = False
        for found in self._ctx.all_files("links"):
            item = found.item
            target = posixpath.normpath(posixpath.join(posixpath.dirname(item.path), item.target))
            source = self._before(target, item.time)
            if item.ok is not False and source is not None:
                step = Step(found, f"linked {item.path} to {item.target}")
                grew |= self._add(item.path, item.time, source, step)
        return grew

    def _copies(self) -> bool:
        """A data-moving program read a downloaded file; what it wrote next holds the data."""
        grew = False
        for key, reads in self._reads.items():
            movers = self._movers(key)
            writes = self._writes.get(key)
            if not movers or not writes:
                continue
            name = movers[-1].name
            first_exec = self._first_exec(key)
            # One sweep in time order: each write takes the latest downloaded read before it;
            # a write before the exec (the redirection of "cat dl > x", opened by the forked
            # shell before it became cat) takes the first downloaded read.
            events = sorted(
                [(r.item.time, 0, r) for r in reads] + [(w.item.time, 1, w) for w in writes],
                key=lambda e: (e[0], e[1]),
            )
            first: tuple[Found[Any], Download] | None = None
            latest: tuple[Found[Any], Download] | None = None
            pending: list[Found[Any]] = []
            for time, is_write, found in events:
                if not is_write:
                    source = self._before(found.item.path, time)
                    if source is not None:
                        latest = (found, source)
                        first = first or latest
                    continue
                redirected = first_exec is not None and time <= first_exec
                if redirected:
                    pending.append(found)
                elif latest is not None:
                    grew |= self._copy(name, found, *latest)
            if first is not None:
                for found in pending:
                    grew |= self._copy(name, found, *first)
        return grew

    def _copy(self, name: str, write: Found[Any], read: Found[Any], source: Download) -> bool:
        if write.item.path == read.item.path:
            return False
        origin = Origin(
            source.fetcher, (*source.steps, Step(read, f"{name} read {read.item.path}"))
        )
        step = Step(write, f"{name} wrote {write.item.path} from {read.item.path}")
        return self._add(write.item.path, write.item.time, origin, step)

    def _pipes(self) -> bool:
        """A pipeline stage reading its input writes what an earlier stage downloaded."""
        grew = False
        for key, writes in self._writes.items():
            movers = [c for c in self._movers(key) if reads_stdin(c)]
            if not movers or all(w.item.path in self.downloads for w in writes):
                continue
            piped = self.piped_into(key)
            if piped is None:
                continue
            feeder, origin = piped
            process = self._processes[key]
            for write in writes:
                if process.exit is not None and write.item.time > process.exit:
                    continue
                step = Step(
                    write,
                    f"{movers[-1].name} wrote {write.item.path} from the output of "
                    f"{self.label(feeder)} through a pipe",
                )
                grew |= self._add(write.item.path, write.item.time, origin, step)
        return grew

    def _redirections(self) -> bool:
        """A shell opened a file for the command it forked next, which printed a download."""
        grew = False
        for key, writes in self._writes.items():
            if not self._is_shell(key):
                continue
            children = self._children.get(key, [])
            starts = self._child_starts.get(key, [])
            for write in writes:
                if write.item.path in self.downloads:
                    continue
                k = bisect_left(starts, write.item.time)
                if k == len(children) or starts[k] - write.item.time > REDIRECT_GAP:
                    continue
                child = children[k]
                origin = self.output_of(child.key, strict=True)
                if origin is None:
                    continue
                step = Step(
                    write,
                    f"{self._name(key)} wrote {write.item.path} from the output of "
                    f"{self.label(child.key)} (a redirection)",
                )
                grew |= self._add(write.item.path, write.item.time, origin, step)
        return grew


def _start(process: Process) -> float:
    return process.start if process.start is not None else float("inf")


def _by_process(records: Iterable[Found[Any]]) -> dict[str, list[Found[Any]]]:
    """Successful (or not known to have failed) records of each process, in report order."""
    grouped: dict[str, list[Found[Any]]] = {}
    for found in records:
        if found.item.ok is not False and found.process is not None:
            grouped.setdefault(found.process, []).append(found)
    return grouped


def _first_by_process(records: Iterable[Found[R]]) -> dict[str, Found[R]]:
    first: dict[str, Found[R]] = {}
    for found in records:
        if found.process is not None:
            first.setdefault(found.process, found)
    return first


def _pseudo(path: str) -> bool:
    """A device or kernel file (``/dev/null``, ``/proc/...``) rather than stored data;
    ``/dev/shm`` is a real (memory) file system and counts as storage."""
    if path.startswith(_STORAGE_UNDER_DEV):
        return False
    return path.startswith(_PSEUDO_DIRS)
