"""The query library signatures use to ask a report questions, each record with its JSON Pointer.

Owns :class:`ReportIndex`: built once per report, it indexes what rules look up often (file
records by path, commands by program name, endpoints, DNS names, processes by key) the first
time a rule asks, so running every rule stays about linear in the size of the report rather
than rules times records. Every answer is a :class:`Found`: the record, the JSON Pointer
(RFC 6901) of that record in the report, and the process it belongs to, so evidence always
points at something a reader can open.

Shell scripts the sample ran (the sample itself, or a dropped script that was executed, given
to an interpreter or sourced) are read from their static analysis (``static.script.commands``)
by :meth:`ReportIndex.script_commands`: builtins such as ``history -c`` or ``unset HISTFILE``
never reach the kernel, so the script is their only record. Each such command says whether
an exec of the same program and arguments was traced (``Command.ran``).

Path patterns (:meth:`ReportIndex.files`) are globs over absolute paths: ``*`` and ``?`` stay
within one path component, ``**`` spans any number of them, ``[...]`` is a character class.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from ..text import printable
from .commands import (
    SHELLS,
    Command,
    inline_code,
    parse_shell,
    program_name,
    script_argument,
    script_command,
)
from .models import Evidence
from .provenance import Download, Provenance
from .vocabulary import PACKAGE_MANAGERS, PROCESS_TOOLS

if TYPE_CHECKING:
    from ..models import (
        ExecRecord,
        FileAccess,
        HttpRequest,
        Process,
        Report,
        UnixSocket,
    )
    from ..static.models import StaticAnalysis

__all__ = [
    "Endpoint",
    "FileKind",
    "Found",
    "InlineCode",
    "KernelSetting",
    "ProgramRun",
    "ReportIndex",
    "StaticFile",
    "SyscallUse",
    "glob_regex",
    "pointer",
]

R = TypeVar("R")

FileKind = Literal[
    "read",
    "written",
    "created",
    "deleted",
    "renamed",
    "renamed_src",
    "chmod",
    "mkdir",
    "links",
    "directories",
]
"""Which file records to search; ``renamed`` matches the destination, ``renamed_src`` the
source, ``links`` the path of the new link."""

_SUMMARY_LIMIT = 300
_PROGRAM_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/",
                 "/usr/local/sbin/", "/usr/libexec/")  # fmt: skip
_PROGRAM_GLOBS = tuple(f"{d}**" for d in _PROGRAM_DIRS)
_COPIERS = frozenset({"cp", "install", "rsync", "cat", "dd", "tee", "busybox"})
_PRINTING_COPIERS = frozenset({"cat", "dd"})


def pointer(*parts: str | int) -> str:
    """A JSON Pointer from its reference tokens (``~`` and ``/`` escaped as RFC 6901 says)."""
    tokens = []
    for part in parts:
        text = str(part)
        if "~" in text or "/" in text:
            text = text.replace("~", "~0").replace("/", "~1")
        tokens.append(text)
    return "/" + "/".join(tokens)


@dataclass(frozen=True, slots=True)
class Found(Generic[R]):
    """A record of the report and where it is."""

    item: R
    ref: str
    process: str | None = None
    pid: int | None = None

    def evidence(self, summary: str) -> Evidence:
        # Made in full only if the match keeps it (the engine keeps the first few and counts
        # the rest): see PendingEvidence.
        return cast(Evidence, PendingEvidence(self.ref, summary, self.process, self.pid))


class PendingEvidence:
    """Evidence as a rule gives it (:meth:`Found.evidence`), made into :class:`Evidence`
    (:meth:`build`) if the match keeps it: most evidence of a rule that matches a long list
    is only counted."""

    __slots__ = ("pid", "process", "ref", "summary")

    def __init__(self, ref: str, summary: str, process: str | None, pid: int | None) -> None:
        self.ref = ref
        self.summary = summary
        self.process = process
        self.pid = pid

    def build(self) -> Evidence:
        return Evidence(
            ref=self.ref,
            summary=printable(self.summary, _SUMMARY_LIMIT),
            process=self.process,
            pid=self.pid,
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A destination the sample sent to, from the trace or from the packet capture."""

    ip: str
    port: int
    proto: str
    source: Literal["connection", "udp", "flow"]
    ok: bool | None
    count: int = 1
    """Attempts the record stands for (the trace merges repeats; a flow is one)."""


@dataclass(frozen=True, slots=True)
class SyscallUse:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class InlineCode:
    """Code given on a command line: ``sh -c '...'``, ``python -c '...'``, ``perl -e '...'``."""

    language: str
    code: str
    command: Command


@dataclass(frozen=True, slots=True)
class ProgramRun:
    """A file run as a program: executed, or handed to an interpreter as the script it runs."""

    path: str
    time: float
    interpreter: str = ""
    """The interpreter (``sh``, ``python3``) when the file was its script; empty for an exec."""

    @property
    def summary(self) -> str:
        if self.interpreter:
            return f"ran {self.path} with {self.interpreter}"
        return f"executed {self.path}"


@dataclass(frozen=True, slots=True)
class KernelSetting:
    """A kernel tunable changed: a write to /proc/sys, or a ``sysctl`` command setting it."""

    name: str
    """The sysctl name, dotted: ``kernel.randomize_va_space``."""
    value: str | None
    """The value set, when the command line says (a file write does not)."""
    path: str | None = None
    """The /proc/sys file written, for a write."""

    @property
    def summary(self) -> str:
        if self.value is None:
            return f"wrote {self.path or self.name}"
        return f"set {self.name} to {self.value}"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """Static analysis of the sample (``/static``) or of a dropped file (``/dropped/N/static``)."""

    label: str
    static: StaticAnalysis


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled form of a path glob (see the module documentation)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _literal_prefix(pattern: str) -> str:
    cut = min((i for i in (pattern.find(c) for c in "*?[") if i != -1), default=len(pattern))
    return pattern[:cut]


class _PathIndex(Generic[R]):
    """Found records sorted by path, for prefix-bounded glob search and basename lookup."""

    def __init__(self, entries: list[tuple[str, Found[R]]]) -> None:
        order = sorted(range(len(entries)), key=lambda i: entries[i][0])
        self._paths = [entries[i][0] for i in order]
        self._found = [entries[i][1] for i in order]
        self._position = order
        self._names: dict[str, list[int]] | None = None

    def _listed(self, hits: Iterable[int]) -> list[Found[R]]:
        # Back in report order, so evidence reads in the order things happened.
        return [self._found[k] for k in sorted(set(hits), key=self._position.__getitem__)]

    def glob(self, patterns: Iterable[str]) -> list[Found[R]]:
        hits: list[int] = []
        for pattern in patterns:
            prefix, regex = _literal_prefix(pattern), glob_regex(pattern)
            k = bisect_left(self._paths, prefix)
            while k < len(self._paths) and self._paths[k].startswith(prefix):
                if regex.match(self._paths[k]):
                    hits.append(k)
                k += 1
        return self._listed(hits)

    def basename(self, names: Iterable[str]) -> list[Found[R]]:
        if self._names is None:
            self._names = {}
            for k, path in enumerate(self._paths):
                self._names.setdefault(posixpath.basename(path), []).append(k)
        found: list[int] = []
        for name in names:
            found.extend(self._names.get(name, ()))
        return self._listed(found)

    def paths(self) -> list[str]:
        return self._paths


def _start_of(process: Process) -> float:
    return process.start if process.start is not None else float("inf")


def _flags(record: FileAccess) -> frozenset[str]:
    return _flag_set(record.flags)


@lru_cache(maxsize=1024)
def _flag_set(flags: str) -> frozenset[str]:
    return frozenset(flags.split("|"))


def _expands(word: str) -> bool:
    return any(ch in word for ch in "$`*?[")


def _same_arguments(written: tuple[str, ...], traced: tuple[str, ...]) -> bool:
    """Whether a script's arguments are those an exec received (words the shell expands
    match any one argument; a last one such may stand for several)."""
    if written == traced:
        return True
    if len(written) != len(traced):
        spread = bool(written) and _expands(written[-1]) and len(traced) >= len(written) - 1
        if not spread:
            return False
    return all(a == b or _expands(a) for a, b in zip(written, traced, strict=False))


@lru_cache(maxsize=4096)
def _public(ip: str) -> bool:
    """:meth:`ReportIndex.is_public_destination` (an address recurs in many records)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


class ReportIndex:
    """Questions rules ask of one report. Build one per report; indexes are made lazily."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self._path_indexes: dict[str, _PathIndex[Any]] = {}
        self._file_entries: dict[str, list[tuple[str, Found[Any]]]] = {}

    _SHARED: tuple[str, ...] = (
        "_process_refs", "_names", "_children", "_children_by_start", "_commands",
        "_commands_by_name", "_command_order", "_exec_commands", "_inline", "_runs",
        "created_paths", "program_copies", "network_processes", "dns_names",
    )  # fmt: skip
    _SHARED_FILES: tuple[FileKind, ...] = (
        "read", "written", "renamed", "renamed_src", "links", "deleted", "mkdir", "directories",
    )  # fmt: skip

    def warm(self) -> None:
        """Make now the indexes most bundled rules ask for (processes, commands, programs
        run, file indexes), as they would be made the first time a rule asks: before rules
        are shared out between processes, so that each is made once."""
        for name in self._SHARED:
            getattr(self, name)
        for kind in self._SHARED_FILES:
            self._index(kind)

    # --- processes ---------------------------------------------------------------------
    @cached_property
    def _process_refs(self) -> dict[str, tuple[int, Process]]:
        return {p.key: (i, p) for i, p in enumerate(self.report.processes)}

    def processes(self) -> list[Found[Process]]:
        return [
            Found(p, f"/processes/{i}", p.key, p.pid) for i, p in enumerate(self.report.processes)
        ]

    def process(self, key: str | None) -> Process | None:
        entry = self._process_refs.get(key) if key is not None else None
        return entry[1] if entry is not None else None

    def image_of(self, key: str | None) -> str | None:
        """The program the process runs (its last exec, else its parent's)."""
        process = self.process(key)
        return process.image if process is not None else None

    def pid_of(self, key: str | None) -> int | None:
        process = self.process(key)
        return process.pid if process is not None else None

    @cached_property
    def root(self) -> Process | None:
        """The sample's own process: the first one whose parent is not in the tree."""
        refs = self._process_refs
        return next((p for p in self.report.processes if p.parent not in refs), None)

    def lineage(self, key: str | None) -> Iterator[Process]:
        """The process and its ancestors, nearest first (bounded, cycle-safe)."""
        seen: set[str] = set()
        while key is not None and key not in seen and len(seen) < 256:
            seen.add(key)
            process = self.process(key)
            if process is None:
                return
            yield process
            key = process.parent

    @cached_property
    def _images(self) -> dict[str, frozenset[str]]:
        images: dict[str, frozenset[str]] = {}
        for process in self.report.processes:
            found = {e.filename for e in process.execs}
            if process.image is not None:
                found.add(process.image)
            images[process.key] = frozenset(found)
        return images

    def images(self, key: str | None) -> frozenset[str]:
        """Every file the process executed (its image and earlier execs)."""
        return self._images.get(key, frozenset()) if key is not None else frozenset()

    @cached_property
    def _programs(self) -> dict[str, frozenset[str]]:
        programs: dict[str, set[str]] = {k: set(v) for k, v in self._images.items()}
        for run in self._runs:
            if run.process is not None:
                programs.setdefault(run.process, set()).add(run.item.path)
        return {key: frozenset(paths) for key, paths in programs.items()}

    def programs(self, key: str | None) -> frozenset[str]:
        """What the process ran: the files it executed and the scripts it gave interpreters."""
        return self._programs.get(key, frozenset()) if key is not None else frozenset()

    @cached_property
    def _children(self) -> dict[str, list[Process]]:
        children: dict[str, list[Process]] = {}
        for process in self.report.processes:
            if process.parent is not None:
                children.setdefault(process.parent, []).append(process)
        return children

    def children(self, key: str | None) -> list[Process]:
        """The processes ``key`` started, in report order."""
        return self._children.get(key, []) if key is not None else []

    @cached_property
    def _children_by_start(self) -> dict[str, tuple[list[float], list[Process]]]:
        ordered: dict[str, tuple[list[float], list[Process]]] = {}
        for key, children in self._children.items():
            timed = sorted((c for c in children if c.start is not None), key=_start_of)
            ordered[key] = ([_start_of(c) for c in timed], timed)
        return ordered

    def started_after(self, key: str | None, time: float, within: float) -> list[Process]:
        """Children of ``key`` started from ``time`` to ``time + within`` (what a shell forks
        right after opening a redirection's file), earliest first."""
        if key is None or key not in self._children_by_start:
            return []
        starts, children = self._children_by_start[key]
        first = bisect_left(starts, time)
        last = bisect_left(starts, time + within + 1e-9)
        return children[first:last]

    @cached_property
    def _names(self) -> dict[str, frozenset[str]]:
        names: dict[str, frozenset[str]] = {}
        for process in self.report.processes:
            found = {program_name(e.filename, e.argv)[0] for e in process.execs}
            if process.image is not None:
                found.add(posixpath.basename(process.image))
            names[process.key] = frozenset(found)
        return names

    def names(self, key: str | None) -> frozenset[str]:
        """The programs the process ran, by name (a busybox applet by its applet name)."""
        return self._names.get(key, frozenset()) if key is not None else frozenset()

    def installing(self, key: str | None) -> bool:
        """Whether the process is part of a package installation from repositories (it or an
        ancestor ran apt, dnf, yum...): package scripts write system files as their job."""
        for process in self.lineage(key):
            if self._names.get(process.key, frozenset()) & PACKAGE_MANAGERS:
                return True
        return False

    @cached_property
    def proc_scanners(self) -> frozenset[str]:
        """Processes that read the /proc entries of five or more other processes (a process
        listing, however written), or that run a process-listing tool (ps, pgrep, top...)."""
        seen: dict[str, set[str]] = {}
        for found in self.files("read", ("/proc/[0-9]*/**",)):
            pid = found.item.path.split("/", 3)[2]
            process = self.process(found.process)
            own = {str(found.pid)} | ({str(t) for t in process.threads} if process else set())
            if found.process is not None and pid not in own:
                seen.setdefault(found.process, set()).add(pid)
        keys = {key for key, pids in seen.items() if len(pids) >= 5}
        keys.update(key for key, names in self._names.items() if names & PROCESS_TOOLS)
        return frozenset(keys)

    # --- programs run ------------------------------------------------------------------
    def execs(self) -> list[Found[ExecRecord]]:
        return self._execs

    @cached_property
    def _runs(self) -> list[Found[ProgramRun]]:
        found: list[Found[ProgramRun]] = []
        for run in self._execs:
            record = run.item
            found.append(
                Found(ProgramRun(record.filename, record.time), run.ref, run.process, run.pid)
            )
            name, args = program_name(record.filename, record.argv)
            script = script_argument(name, args)
            if script:
                process = self.process(run.process)
                cwd = (process.cwd if process is not None else None) or "/"
                path = posixpath.normpath(posixpath.join(cwd, script))
                found.append(
                    Found(ProgramRun(path, record.time, name), run.ref, run.process, run.pid)
                )
        return found

    def runs(self) -> list[Found[ProgramRun]]:
        """Files run as programs: each exec, and each script handed to an interpreter
        (``sh x.sh``, ``python3 -u x.py``, resolved against the process's directory)."""
        return self._runs

    @cached_property
    def _execs(self) -> list[Found[ExecRecord]]:
        return [
            Found(e, f"/processes/{i}/execs/{j}", p.key, p.pid)
            for i, p in enumerate(self.report.processes)
            for j, e in enumerate(p.execs)
        ]

    @cached_property
    def _commands(self) -> list[Found[Command]]:
        found: list[Found[Command]] = []
        for run in self._execs:
            name, args = program_name(run.item.filename, run.item.argv)
            command = Command(name, args, run.item.filename)
            found.append(Found(command, run.ref, run.process, run.pid))
            code = inline_code(name, args)
            if code is not None and code[0] == "sh":
                for inner in parse_shell(code[1]).commands:
                    found.append(Found(inner, run.ref, run.process, run.pid))
        return found

    @cached_property
    def _commands_by_name(self) -> dict[str, list[Found[Command]]]:
        by_name: dict[str, list[Found[Command]]] = {}
        for found in self._commands:
            by_name.setdefault(found.item.name, []).append(found)
        return by_name

    def commands(self, *names: str) -> list[Found[Command]]:
        """Programs run (by exec, or named in ``sh -c`` text), all or those with these names."""
        if not names:
            return self._commands
        hits = [f for name in dict.fromkeys(names) for f in self._commands_by_name.get(name, ())]
        order = self._command_order
        return sorted(hits, key=lambda f: order[id(f)])

    @cached_property
    def _command_order(self) -> dict[int, int]:
        return {id(f): i for i, f in enumerate(self._commands)}

    def commands_where(self, predicate: Callable[[str], bool]) -> list[Found[Command]]:
        """Programs run whose name satisfies ``predicate`` (e.g. a prefix test)."""
        names = [n for n in self._commands_by_name if predicate(n)]
        return self.commands(*names) if names else []

    @cached_property
    def _inline(self) -> list[Found[InlineCode]]:
        found = []
        for run in self._commands:
            code = inline_code(run.item.name, run.item.args)
            if code is not None:
                found.append(
                    Found(InlineCode(code[0], code[1], run.item), run.ref, run.process, run.pid)
                )
        return found

    def inline_code(self) -> list[Found[InlineCode]]:
        """Code passed on command lines (``-c``/``-e``), with the command that received it."""
        return self._inline

    # --- scripts -----------------------------------------------------------------------
    @cached_property
    def _script_sources(self) -> list[tuple[str, StaticAnalysis, str | None, int | None]]:
        """(pointer, static analysis, process, pid) of each shell script that ran: the sample,
        and each dropped script executed, handed to an interpreter or read by a shell."""
        report = self.report
        sources: list[tuple[str, StaticAnalysis, str | None, int | None]] = []
        if getattr(report.analysis, "executed", True) is False:
            return sources  # the sample never ran: what its script holds is not behaviour
        root = self.root
        if report.static is not None and report.static.script is not None:
            key = root.key if root is not None else None
            sources.append((pointer("static"), report.static, key, self.pid_of(key)))
        if not report.dropped:
            return sources
        runs: dict[str, Found[ProgramRun]] = {}
        for run in self._runs:
            runs.setdefault(run.item.path, run)
        for found in self.all_files("read"):
            image = posixpath.basename(self.image_of(found.process) or "")
            if image in SHELLS and found.item.path not in runs:
                runs[found.item.path] = Found(
                    ProgramRun(found.item.path, found.item.time, image),
                    found.ref,
                    found.process,
                    found.pid,
                )
        for i, dropped in enumerate(report.dropped):
            static = dropped.static
            if static is None or static.script is None or not static.script.commands:
                continue
            ran = runs.get(dropped.path)
            if ran is not None:
                sources.append((pointer("dropped", i, "static"), static, ran.process, ran.pid))
        return sources

    @cached_property
    def _exec_commands(self) -> dict[str, list[Found[Command]]]:
        by_name: dict[str, list[Found[Command]]] = {}
        for found in self._commands:
            if found.item.via == "exec":
                by_name.setdefault(found.item.name, []).append(found)
        return by_name

    def _traced(self, command: Command) -> Found[Command] | None:
        """An exec of the same program with the same arguments (a word the shell would still
        expand, ``$x`` or ``*.log``, matches any)."""
        for found in self._exec_commands.get(command.name, ())[:256]:
            if _same_arguments(command.args, found.item.args):
                return found
        return None

    @cached_property
    def _scripts(self) -> list[Found[Command]]:
        found: list[Found[Command]] = []
        for ref, static, process, pid in self._script_sources:
            assert static.script is not None
            for i, record in enumerate(static.script.commands):
                command = script_command(record)
                traced = None if command.builtin or not command.name else self._traced(command)
                if traced is not None:
                    command = replace(command, ran=traced.ref, ran_pid=traced.pid)
                found.append(Found(command, ref + pointer("script", "commands", i), process, pid))
        return found

    @cached_property
    def _scripts_by_name(self) -> dict[str, list[Found[Command]]]:
        by_name: dict[str, list[Found[Command]]] = {}
        for found in self._scripts:
            by_name.setdefault(found.item.name, []).append(found)
        return by_name

    def script_commands(self, *names: str) -> list[Found[Command]]:
        """Commands written in the shell scripts that ran (see the module documentation),
        all or those with these names (``""``: lines of only ``NAME=value`` assignments).

        Use them for what the kernel cannot see (builtins, variables); a program's run is
        better shown by its exec (:meth:`commands`), which ``Command.ran`` points to."""
        if not names:
            return self._scripts
        hits = [f for name in dict.fromkeys(names) for f in self._scripts_by_name.get(name, ())]
        order = self._script_order
        return sorted(hits, key=lambda f: order[id(f)])

    @cached_property
    def _script_order(self) -> dict[int, int]:
        return {id(f): i for i, f in enumerate(self._scripts)}

    def shell_commands(self, *names: str) -> list[Found[Command]]:
        """:meth:`commands` (execs and ``sh -c`` text) followed by :meth:`script_commands`."""
        return [*self.commands(*names), *self.script_commands(*names)]

    # --- files -------------------------------------------------------------------------
    def _index(self, kind: FileKind) -> _PathIndex[Any]:
        index = self._path_indexes.get(kind)
        if index is None:
            index = self._path_indexes[kind] = _PathIndex(self._entries(kind))
        return index

    def _entries(self, kind: FileKind) -> list[tuple[str, Found[Any]]]:
        entries = self._file_entries.get(kind)
        if entries is None:
            entries = self._file_entries[kind] = self._make_entries(kind)
        return entries

    def _make_entries(self, kind: FileKind) -> list[tuple[str, Found[Any]]]:
        files = self.report.files
        if kind in ("renamed", "renamed_src"):
            attr = "dst" if kind == "renamed" else "src"
            return [
                (getattr(r, attr), Found(r, f"/files/renamed/{i}", r.process, r.pid))
                for i, r in enumerate(files.renamed)
            ]
        records: list[Any] = getattr(files, kind)
        return [
            (r.path, Found(r, f"/files/{kind}/{i}", r.process, r.pid))
            for i, r in enumerate(records)
            if r.path is not None
        ]

    def files(self, kind: FileKind, patterns: Iterable[str]) -> list[Found[Any]]:
        """File records of ``kind`` whose path matches one of the globs."""
        return self._index(kind).glob(patterns)

    def files_named(self, kind: FileKind, names: Iterable[str]) -> list[Found[Any]]:
        """File records of ``kind`` whose path ends in one of these file names."""
        return self._index(kind).basename(names)

    def all_files(self, kind: FileKind) -> list[Found[Any]]:
        return [found for _, found in self._entries(kind)]

    def modified(self, patterns: Iterable[str]) -> list[Found[Any]]:
        """Writes to, renames onto, and links created at matching paths (attempts included)."""
        patterns = tuple(patterns)
        return [
            *self.files("written", patterns),
            *self.files("renamed", patterns),
            *self.files("links", patterns),
        ]

    def modified_named(self, names: Iterable[str]) -> list[Found[Any]]:
        names = tuple(names)
        return [
            *self.files_named("written", names),
            *self.files_named("renamed", names),
            *self.files_named("links", names),
        ]

    @cached_property
    def provenance(self) -> Provenance:
        """Where files' data came from: downloads, followed through renames, copies, pipes."""
        return Provenance(self)

    @property
    def downloads(self) -> dict[str, Download]:
        """Paths that came to hold data fetched from the network (see :mod:`.provenance`)."""
        return self.provenance.downloads

    @cached_property
    def program_copies(self) -> dict[str, tuple[str, Found[Any]]]:
        """Paths that came to hold a program of the system's bin directories: written by a
        copying program (cp, install, cat, dd...) that read it, or by the shell whose
        redirection such a program printed into, linked to it, or moved from there.
        path -> (the system program, the record that made the copy)."""
        copies: dict[str, tuple[str, Found[Any]]] = {}
        reads: dict[str, list[Found[Any]]] = {}
        for found in self.files("read", _PROGRAM_GLOBS):
            if found.process is not None and found.item.ok is not False:
                reads.setdefault(found.process, []).append(found)
        copying = {key for key, names in self._names.items() if names & _COPIERS and key in reads}
        # A write is a copy only if a copying process (or its printing child) made it.
        for write in self.all_files("written") if copying else ():
            if write.item.ok is False:
                continue
            source_key = write.process if write.process in copying else None
            if source_key is None and self._names.get(write.process or "", frozenset()) & SHELLS:
                # "cat /bin/sh > x": the shell opens x, then forks cat, which prints.
                for child in self.started_after(write.process, write.item.time, 0.05):
                    printing = self._names.get(child.key, frozenset()) & _PRINTING_COPIERS
                    if child.key in copying and printing:
                        source_key = child.key
                        break
            if source_key is None:
                continue
            before = [r for r in reads[source_key] if r.item.path != write.item.path]
            if before:
                copies.setdefault(write.item.path, (before[-1].item.path, write))
        for found in self.all_files("links"):
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(found.item.path), found.item.target)
            )
            if target.startswith(_PROGRAM_DIRS):
                copies.setdefault(found.item.path, (target, found))
        for found in self.files("renamed_src", _PROGRAM_GLOBS):
            copies.setdefault(found.item.dst, (found.item.src, found))
        return copies

    @cached_property
    def created_paths(self) -> frozenset[str]:
        """Paths the sample's processes brought into being (created, renamed onto, mkdir)."""
        files = self.report.files
        paths = {c.path for c in files.created}
        paths.update(w.path for w in files.written if "O_CREAT" in _flags(w) and w.ok)
        paths.update(r.dst for r in files.renamed)
        paths.update(m.path for m in files.mkdir)
        return frozenset(paths)

    def truncated(self, found: Found[Any]) -> bool:
        """Whether a write record truncated the file (opened with ``O_TRUNC``)."""
        return "O_TRUNC" in _flags(found.item)

    # --- network -----------------------------------------------------------------------
    @cached_property
    def _endpoints(self) -> list[Found[Endpoint]]:
        network = self.report.network
        found: list[Found[Endpoint]] = []
        for i, c in enumerate(network.connections):
            ok = None if c.result is None else c.result == "ok"
            point = Endpoint(c.dst_ip, c.dst_port, c.proto, "connection", ok, c.count)
            found.append(Found(point, f"/network/connections/{i}", c.process, c.pid))
        for i, u in enumerate(network.udp):
            ok = None if u.result is None else u.result == "ok"
            point = Endpoint(u.dst_ip, u.dst_port, "udp", "udp", ok, u.count)
            found.append(Found(point, f"/network/udp/{i}", u.process, u.pid))
        for i, f in enumerate(network.flows):
            if f.direction != "outbound" or f.dst_port is None or f.proto not in ("tcp", "udp"):
                continue
            point = Endpoint(f.dst_ip, f.dst_port, f.proto, "flow", f.dst_packets > 0 or None)
            found.append(Found(point, f"/network/flows/{i}", f.process, f.pid))
        return found

    def endpoints(self, ports: Iterable[int] | None = None) -> list[Found[Endpoint]]:
        """Destinations sent to (trace connections, UDP sends, outbound captured flows)."""
        if ports is None:
            return self._endpoints
        wanted = set(ports)
        return [f for f in self._endpoints if f.item.port in wanted]

    def unix_sockets(self, patterns: Iterable[str] | None = None) -> list[Found[UnixSocket]]:
        """Connects to Unix sockets, all or those whose path matches one of the globs."""
        regexes = [glob_regex(p) for p in patterns] if patterns is not None else None
        return [
            Found(u, pointer("network", "unix", i), u.process, u.pid)
            for i, u in enumerate(self.report.network.unix)
            if regexes is None or any(r.match(u.path) for r in regexes)
        ]

    def http(self) -> list[Found[HttpRequest]]:
        return [
            Found(h, pointer("network", "http", i), h.process, h.pid)
            for i, h in enumerate(self.report.network.http)
        ]

    @cached_property
    def dns_names(self) -> list[Found[str]]:
        """Names looked up: decoded queries of the capture and of the trace."""
        network = self.report.network
        found: list[Found[str]] = []
        for i, record in enumerate(network.dns_traffic):
            name = record.name.strip().rstrip(".").lower()
            if name:
                found.append(
                    Found(name, pointer("network", "dns_traffic", i), record.process, record.pid)
                )
        for i, query in enumerate(network.dns):
            if query.query:
                name = query.query.strip().rstrip(".").lower()
                found.append(Found(name, pointer("network", "dns", i), query.process, query.pid))
        return found

    @cached_property
    def resolved_ips(self) -> frozenset[str]:
        """Addresses DNS answers gave (A and AAAA records of the capture)."""
        return frozenset(
            answer.data
            for record in self.report.network.dns_traffic
            for answer in record.answers
            if answer.type in ("A", "AAAA")
        )

    @cached_property
    def network_processes(self) -> frozenset[str]:
        """Processes that talked to the network (connected, sent, looked a name up)."""
        network = self.report.network
        keys: set[str] = {c.process for c in network.connections}
        keys.update(u.process for u in network.udp)
        keys.update(d.process for d in network.dns)
        for records in (network.http, network.tls, network.dns_traffic, network.flows):
            keys.update(r.process for r in records if r.process is not None)
        return frozenset(keys)

    @staticmethod
    def is_public_destination(ip: str) -> bool:
        """Not loopback, link-local, multicast or unspecified: a real remote destination."""
        return _public(ip)

    def kernel_settings(self) -> list[Found[KernelSetting]]:
        """Kernel tunables changed: writes under /proc/sys, and ``sysctl`` command lines
        setting a name (executed, or in ``sh -c`` text)."""
        found: list[Found[KernelSetting]] = []
        for write in self.files("written", ("/proc/sys/**",)):
            name = write.item.path[len("/proc/sys/") :].replace("/", ".")
            setting = KernelSetting(name, None, write.item.path)
            found.append(Found(setting, write.ref, write.process, write.pid))
        for run in self.commands("sysctl"):
            for arg in run.item.args:
                if "=" in arg and not arg.startswith("-"):
                    name, value = arg.split("=", 1)
                    changed = KernelSetting(name.strip().replace("/", "."), value.strip())
                    found.append(Found(changed, run.ref, run.process, run.pid))
        return found

    # --- syscalls and static -----------------------------------------------------------
    def syscalls(self, names: Iterable[str]) -> list[Found[SyscallUse]]:
        """Processes that made these system calls, with how often."""
        wanted = tuple(names)
        found: list[Found[SyscallUse]] = []
        for key, counts in self.report.syscalls.per_process.items():
            for name in wanted:
                n = counts.get(name, 0)
                if n > 0:
                    ref = pointer("syscalls", "per_process", key, name)
                    found.append(Found(SyscallUse(name, n), ref, key, self.pid_of(key)))
        return found

    def static_files(self) -> list[Found[StaticFile]]:
        """Static analyses of the sample and of each dropped file that has one."""
        found: list[Found[StaticFile]] = []
        if self.report.static is not None:
            found.append(Found(StaticFile("the sample", self.report.static), pointer("static")))
        for i, dropped in enumerate(self.report.dropped):
            if dropped.static is not None:
                label = f"dropped file {dropped.path}"
                ref = pointer("dropped", i, "static")
                found.append(
                    Found(StaticFile(label, dropped.static), ref, dropped.process, dropped.pid)
                )
        return found
