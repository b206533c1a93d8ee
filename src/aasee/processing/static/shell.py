"""Shell scripts read as the commands they would run: a small, bounded POSIX sh / bash parser.

Owns :func:`parse_script`, which turns shell text into :class:`ShellCommand` records: the
words of each simple command (quotes removed, ``$NAME`` replaced by a value the script gave
it earlier when that value is plain text), the ``NAME=value`` assignments before it, its
redirections, the line it starts on, whether it is a builtin, a function of the script or a
program, and where it sits (pipeline, stage, ``$(...)``, a function body, ``sh -c`` text...).
Builtins are kept: ``history -c``, ``unset HISTFILE``, ``trap ... DEBUG`` or
``PROMPT_COMMAND=...`` never reach the kernel, so the script is the only place they show.

What it understands: quoting (``'...'``, ``"..."``, ``$'...'``, backslashes), comments,
line continuations, ``;`` ``&`` ``&&`` ``||`` ``|`` ``|&`` and newlines, redirections
(``>``, ``>>``, ``2>&1``, ``&>``, ``<``, ``<<``/``<<-`` here-documents, ``<<<``), ``$(...)``,
backticks, ``<(...)``, ``${...}``, ``$((...))``, assignments (arrays included), functions
(``f() {...}``, ``function f {...}``), ``if``/``for``/``while``/``until``/``case``/``select``
bodies, ``{ ...; }`` and ``( ... )`` groups, ``[[ ... ]]`` and ``(( ... ))``. Code handed to a
shell is parsed as well, recursively: ``sh -c '...'`` / ``bash -c`` (behind ``sudo``, ``env``,
``nohup``, ``xargs``, ``find -exec``...), ``su -c``, ``eval``, the action of ``trap``, and a
here-document fed to a shell.

Hostile text costs bounded work and never raises: at most :data:`MAX_TEXT` characters are
read, :data:`MAX_TOKENS` tokens, :data:`MAX_COMMANDS` commands kept; nesting deeper than
:data:`MAX_DEPTH` is skipped over rather than parsed; text parsed again (``sh -c`` strings,
backticks, ``eval``) draws on a budget of :data:`RESCAN_FACTOR` times the input; a word keeps
at most :data:`MAX_WORD` characters and a command :data:`MAX_ARGS` words. ``truncated`` says
when a bound cut the result short. The text is data: nothing here runs or expands anything
but plain variables the script itself set.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BUILTINS",
    "MAX_ARGS",
    "MAX_COMMANDS",
    "MAX_DEPTH",
    "MAX_TEXT",
    "MAX_TOKENS",
    "MAX_WORD",
    "RESCAN_FACTOR",
    "SHELLS",
    "CommandKind",
    "ParsedScript",
    "Redirect",
    "ShellCommand",
    "parse_script",
    "plain_words",
    "shell_code",
    "unwrap",
]

MAX_TEXT = 1 << 20
"""Characters of a script that are read."""
MAX_COMMANDS = 1000
"""Commands kept (nested ones included)."""
MAX_TOKENS = 200_000
"""Words and operators read, over the script and every text parsed again."""
MAX_DEPTH = 8
"""Levels of ``$(...)``, backticks, ``sh -c`` and ``eval`` parsed; deeper text is skipped."""
MAX_WORD = 1024
"""Characters kept of each word."""
MAX_ARGS = 64
"""Words kept of each command."""
RESCAN_FACTOR = 4
"""Text parsed again (``sh -c`` strings...) may total this many times the script's length."""
_MAX_VALUE = 4096  # longest variable value substituted into later words
_MAX_VARIABLES = 256
_MAX_FULL_WORD = 1 << 16  # a word kept whole while its command is read (sh -c code)

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "yash", "posh"})
"""Programs that run shell text given with ``-c`` (or read it from standard input)."""

BUILTINS = frozenset(
    {":", ".", "[", "[[", "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command",
     "compgen", "complete", "compopt", "continue", "declare", "dirs", "disown", "echo",
     "enable", "eval", "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash",
     "help", "history", "jobs", "kill", "let", "local", "logout", "mapfile", "popd",
     "printf", "pushd", "pwd", "read", "readarray", "readonly", "return", "set", "shift",
     "shopt", "source", "suspend", "test", "times", "trap", "true", "type", "typeset",
     "ulimit", "umask", "unalias", "unset", "wait"}
)  # fmt: skip
"""Commands a shell runs itself: they never appear as a program run in the trace."""

CommandKind = Literal["program", "builtin", "function", "assignment", "redirection"]
_Add = Callable[[str], None]

# Programs that run the command they are given.
_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "nohup", "timeout", "nice", "ionice", "setsid", "stdbuf", "time",
     "exec", "command", "busybox", "xargs", "watch", "chrt", "taskset", "unbuffer", "torsocks",
     "proxychains", "proxychains4", "flock", "caffeinate", "systemd-run", "strace", "ltrace"}
)  # fmt: skip
_WRAPPER_VALUED: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user",
                       "--group", "--host", "--prompt", "--chdir", "--role", "--type"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "--unset", "--chdir", "-S", "--split-string"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p", "--class", "--classdata"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "xargs": frozenset({"-I", "-n", "-P", "-L", "-s", "-d", "-E", "-a", "--max-args",
                        "--max-procs", "--delimiter", "--arg-file", "--replace"}),
    "watch": frozenset({"-n", "--interval", "-d"}),
    "exec": frozenset({"-a"}),
    "flock": frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}),
    "systemd-run": frozenset({"-u", "--unit", "-p", "--property", "-M", "--machine",
                              "--description", "--slice", "-E", "--setenv", "--uid", "--gid",
                              "--on-active", "--on-boot", "--on-startup", "--on-unit-active",
                              "--on-unit-inactive", "--on-calendar", "--timer-property",
                              "--path-property", "--socket-property", "--working-directory"}),
    "strace": frozenset({"-e", "-o", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-P", "-S",
                         "-X"}),
    "ltrace": frozenset({"-e", "-o", "-p", "-s", "-u", "-n", "-a", "-A", "-D", "-l"}),
}  # fmt: skip
_NUMERIC_OPERAND = frozenset({"timeout", "chrt", "taskset", "flock"})
_RESERVED_SKIP = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "time", "coproc"}
)
_BLANKS = " \t\r\f\v"
_PLAIN = re.compile(r"[^ \t\r\f\v\n'\"\\$`;&|<>()]+")
_DQ_PLAIN = re.compile(r'[^"\\$`]+')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:@-]*\Z")
_REDIRECT = re.compile(r"(\d{1,4})?(&>>|&>|<<<|<<-|<<|<>|<&|>&|>>|>\||<|>)")
_OPERATOR = re.compile(r";;&|;;|;&|;|&&|\|\||\|&|\||&|\(|\)")
_DBRACKET_OP = re.compile(r"&&|\|\||=~|==|!=|[<>()!]")
# Code that is only a substitution was parsed where it was written: not again.
_ONLY_SUBSTITUTION = re.compile(r"\s*(?:\$\(.*\)|`.*`)\s*", re.DOTALL)
_ANSI = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
         "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirection: ``op`` (``>``, ``>>``, ``<``, ``<<``, ``2>&1``'s ``>&``...), the
    descriptor number written before it (``None`` when implicit) and its target (a file, a
    descriptor, a here-document's delimiter or a here-string)."""

    op: str
    fd: int | None
    target: str


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """One simple command of a script, as written (variables the script set substituted)."""

    argv: tuple[str, ...]
    assignments: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    line: int = 1
    """Line of the script it starts on (for nested text, the line of the command holding it)."""
    kind: CommandKind = "program"
    context: str = ""
    """Where it sits: empty at top level, else ``$(...)``, ``` `...` ```, ``<(...)``,
    ``function NAME``, ``sh -c``, ``su -c``, ``eval``, ``trap``, ``here-document``."""
    depth: int = 0
    """Levels of nested text (substitutions, ``sh -c``...) around it."""
    pipeline: int = 0
    """Which pipeline it belongs to (numbered over the whole parse)."""
    stage: int = 0
    """Its position in that pipeline; 0 is the first command."""
    background: bool = False
    """Run asynchronously (``&``)."""
    argv_truncated: bool = False


@dataclass(frozen=True, slots=True)
class ParsedScript:
    commands: tuple[ShellCommand, ...]
    functions: tuple[str, ...]
    """Names of the functions the script defines."""
    truncated: bool
    """A bound was reached: commands after it are missing."""


class _Stop(Exception):
    """A bound was reached: stop parsing and keep what was found."""


def unwrap(argv: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """The command a wrapper runs (``sudo -u x env A=1 nohup cmd ...`` -> ``cmd ...``), and
    the ``NAME=value`` assignments ``env`` gave it."""
    env: list[str] = []
    words = list(argv[:MAX_ARGS])
    for _ in range(8):
        if not words:
            break
        name = posixpath.basename(words[0])
        if name not in _WRAPPERS:
            break
        words.pop(0)
        valued = _WRAPPER_VALUED.get(name, frozenset())
        while words and words[0].startswith("-") and words[0] != "-":
            option = words.pop(0)
            if option == "--":
                break
            if option in valued and "=" not in option and words:
                words.pop(0)
        while words and _ASSIGNMENT.match(words[0]):  # env NAME=value, sudo NAME=value
            env.append(words.pop(0))
        if name in _NUMERIC_OPERAND and words and words[0][:1].isdigit():
            words.pop(0)
    return env, words


def shell_code(argv: tuple[str, ...] | list[str]) -> tuple[str | None, bool]:
    """For a shell's command line: (the ``-c`` code, whether it reads its program from
    standard input). ``(None, False)`` for a script file or a program that is no shell."""
    if not argv or posixpath.basename(argv[0]) not in SHELLS:
        return None, False
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return None, i + 1 >= len(args)
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            if "c" in arg[1:]:
                return (args[i + 1] if i + 1 < len(args) else None), False
            if "s" in arg[1:]:
                return None, True
        elif not arg.startswith(("-", "+")):
            return None, False  # a script file
        i += 1
    return None, True


@dataclass
class _Frame:
    depth: int
    context: str
    line: int | None
    """Line every command of this text reports (text parsed again), or None to count lines."""


@dataclass
class _HereDoc:
    delimiter: str
    strip_tabs: bool
    pipeline: int
    program: str
    feeds_shell: bool
    line: int
    depth: int


@dataclass
class _State:
    """The command being read, and the constructs open around it, in one list of commands."""

    frame: _Frame
    pipeline: int
    words: list[str] = field(default_factory=list)
    word_count: int = 0
    assignments: list[str] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    heredocs: list[_HereDoc] = field(default_factory=list)
    start_line: int | None = None
    stage: int = 0
    groups: list[tuple[str, str | None]] = field(default_factory=list)
    pending_function: str | None = None
    expect_function: bool = False
    case_depth: int = 0
    case_expect: int = 0  # 1: the subject, 2: the word "in"
    case_pattern: bool = False
    for_header: bool = False
    for_variable: bool = False
    dbracket: bool = False

    def context(self) -> str:
        for _, name in reversed(self.groups):
            if name is not None:
                return name
        return self.frame.context


class _Parser:
    """One parse: the commands found so far and the bounds shared by every text read."""

    def __init__(self, max_commands: int, budget: int) -> None:
        self.commands: list[ShellCommand] = []
        self.functions: dict[str, None] = {}
        self.variables: dict[str, str] = {}
        self.max_commands = max_commands
        self.budget = budget
        self.tokens = 0
        self.next_pipeline = 0
        self.truncated = False

    def new_pipeline(self) -> int:
        self.next_pipeline += 1
        return self.next_pipeline - 1

    def tick(self) -> None:
        self.tokens += 1
        if self.tokens > MAX_TOKENS:
            raise _Stop

    def parse_again(self, text: str, depth: int, context: str, line: int) -> None:
        """Parse shell text found inside the script (``sh -c`` code, ``eval``...)."""
        if not text.strip() or _ONLY_SUBSTITUTION.fullmatch(text):
            return
        if depth > MAX_DEPTH or len(text) > self.budget:
            self.truncated = True
            return
        self.budget -= len(text)
        _Scan(self, text).run(_Frame(depth, context, line))


class _Scan:
    """Reading one text (the script, or text parsed again) from start to end."""

    def __init__(self, parser: _Parser, text: str) -> None:
        self.p = parser
        self.text = text
        self.n = len(text)
        self.pending: list[_HereDoc] = []
        self._newlines: list[int] | None = None

    def run(self, frame: _Frame) -> None:
        self.read_list(0, frame, until_paren=False)

    # --- positions ---------------------------------------------------------------------
    def line_at(self, pos: int, frame: _Frame) -> int:
        if frame.line is not None:
            return frame.line
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def blanks(self, pos: int) -> int:
        text, n = self.text, self.n
        while pos < n:
            c = text[pos]
            if c in _BLANKS:
                pos += 1
            elif c == "\\" and text.startswith("\n", pos + 1):
                pos += 2
            else:
                break
        return pos

    def end_of_line(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return self.n if end == -1 else end

    # --- skipping text not parsed ------------------------------------------------------
    def skip_balanced(self, pos: int, opening: str, closing: str, depth: int = 1) -> int:
        """The position after the ``closing`` that balances ``depth`` open ones (quotes and
        backslashes respected), or the end of the text."""
        text, n = self.text, self.n
        while pos < n:
            c = text[pos]
            if c == "\\":
                pos += 2
                continue
            if c == "'":
                end = text.find("'", pos + 1)
                pos = n if end == -1 else end + 1
                continue
            if c == '"':
                pos = self.skip_dquote(pos + 1)
                continue
            if c == opening:
                depth += 1
            elif c == closing:
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        return n

    def skip_dquote(self, pos: int) -> int:
        text, n = self.text, self.n
        while pos < n:
            c = text[pos]
            if c == "\\":
                pos += 2
            elif c == '"':
                return pos + 1
            else:
                pos += 1
        return n

    # --- words -------------------------------------------------------------------------
    def word(self, pos: int, frame: _Frame) -> tuple[int, str]:
        """Read one word from ``pos``: (the position after it, its value)."""
        text, n = self.text, self.n
        start = pos
        parts: list[str] = []
        size = 0

        def add(piece: str) -> None:
            nonlocal size
            if size < _MAX_FULL_WORD:
                parts.append(piece[: _MAX_FULL_WORD - size])
                size += len(piece)

        while pos < n:
            self.p.tick()
            c = text[pos]
            if c == "(" and pos > start and text[pos - 1] == "=":
                if _ASSIGNMENT.fullmatch(text, start, pos):
                    end = self.skip_balanced(pos + 1, "(", ")")
                    add(text[pos:end])  # an array: a=(x y z)
                    pos = end
                    continue
            if c in "<>" and pos == start and text.startswith("(", pos + 1):
                add(text[pos : pos + 2])
                end = self.substitution(pos + 2, frame, c + "(...)")
                add(text[pos + 2 : end])
                pos = end
                continue
            if c in _BLANKS or c in "\n;&|<>()":
                break
            if c == "'":
                end = text.find("'", pos + 1)
                end = n if end == -1 else end
                add(text[pos + 1 : end])
                pos = end + 1
            elif c == '"':
                pos = self.dquote(pos + 1, add, frame)
            elif c == "\\":
                if pos + 1 < n and text[pos + 1] != "\n":
                    add(text[pos + 1])
                pos += 2
            elif c == "$":
                pos = self.dollar(pos, add, frame, quoted=False)
            elif c == "`":
                pos = self.backtick(pos, add, frame)
            else:
                match = _PLAIN.match(text, pos)
                end = match.end() if match else pos + 1
                add(text[pos:end])
                pos = end
        return min(pos, n), "".join(parts)

    def dquote(self, pos: int, add: _Add, frame: _Frame) -> int:
        text, n = self.text, self.n
        while pos < n:
            c = text[pos]
            if c == '"':
                return pos + 1
            if c == "\\":
                following = text[pos + 1 : pos + 2]
                if following in ("$", "`", '"', "\\"):
                    add(following)
                elif following != "\n":
                    add("\\" + following)
                pos += 2
            elif c == "$":
                pos = self.dollar(pos, add, frame, quoted=True)
            elif c == "`":
                pos = self.backtick(pos, add, frame)
            else:
                match = _DQ_PLAIN.match(text, pos)
                end = match.end() if match else pos + 1
                add(text[pos:end])
                pos = end
        return n

    def dollar(self, pos: int, add: _Add, frame: _Frame, quoted: bool) -> int:
        text = self.text
        following = text[pos + 1 : pos + 2]
        if following == "(":
            if text.startswith("((", pos + 1):
                end = self.skip_balanced(pos + 3, "(", ")", depth=2)
            else:
                end = self.substitution(pos + 2, frame, "$(...)")
            add(text[pos:end][:MAX_WORD])
            return end
        if following == "{":
            end = self.skip_balanced(pos + 2, "{", "}")
            raw = text[pos:end]
            name = raw[2:-1]
            value = self.p.variables.get(name) if _NAME.fullmatch(name) else None
            add(value if value is not None else raw[:MAX_WORD])
            return end
        if following == "'" and not quoted:
            return self.ansi_c(pos + 2, add)
        if following == '"' and not quoted:
            return self.dquote(pos + 2, add, frame)
        match = _NAME.match(text, pos + 1)
        if match:
            value = self.p.variables.get(match.group())
            add(value if value is not None else "$" + match.group())
            return match.end()
        if following and following in "@*#?-$!0123456789":
            add("$" + following)
            return pos + 2
        add("$")
        return pos + 1

    def ansi_c(self, pos: int, add: _Add) -> int:
        """``$'...'``: the quoted text with its backslash escapes decoded."""
        text, n = self.text, self.n
        out: list[str] = []
        while pos < n:
            c = text[pos]
            if c == "'":
                pos += 1
                break
            if c != "\\" or pos + 1 >= n:
                out.append(c)
                pos += 1
                continue
            code = text[pos + 1]
            if code in _ANSI:
                out.append(_ANSI[code])
                pos += 2
            elif code in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[code]
                match = re.match(rf"[0-9A-Fa-f]{{1,{width}}}", text[pos + 2 : pos + 2 + width])
                if match:
                    out.append(chr(min(int(match.group(), 16), 0x10FFFF)))
                    pos += 2 + match.end()
                else:
                    out.append("\\" + code)
                    pos += 2
            elif code in "01234567":
                match = re.match(r"[0-7]{1,3}", text[pos + 1 : pos + 4])
                digits = match.group() if match else code
                out.append(chr(int(digits, 8) & 0xFF))
                pos += 1 + len(digits)
            elif code == "c" and pos + 2 < n:
                out.append(chr(ord(text[pos + 2]) & 0x1F))
                pos += 3
            else:
                out.append("\\" + code)
                pos += 2
        else:
            pos = n
        add("".join(out))
        return pos

    def backtick(self, pos: int, add: _Add, frame: _Frame) -> int:
        text, n = self.text, self.n
        end = pos + 1
        while end < n and text[end] != "`":
            end += 2 if text[end] == "\\" else 1
        end = min(end, n)
        inner = text[pos + 1 : end]
        add(text[pos : end + 1][:MAX_WORD])
        code = inner.replace("\\`", "`").replace("\\$", "$").replace("\\\\", "\\")
        self.p.parse_again(code, frame.depth + 1, "`...`", self.line_at(pos, frame))
        return end + 1

    def substitution(self, pos: int, frame: _Frame, context: str) -> int:
        """Commands inside ``$(``/``<(``/``>(`` ... ``)`` from ``pos``, parsed in place; the
        position after the closing parenthesis."""
        if frame.depth + 1 > MAX_DEPTH:
            self.p.truncated = True
            return self.skip_balanced(pos, "(", ")")
        line = frame.line if frame.line is not None else None
        return self.read_list(pos, _Frame(frame.depth + 1, context, line), until_paren=True)

    # --- commands ----------------------------------------------------------------------
    def read_list(self, pos: int, frame: _Frame, until_paren: bool) -> int:
        """Read commands from ``pos`` to the end of the text (or to the ``)`` closing a
        substitution); return the position after what was read."""
        text, n = self.text, self.n
        state = _State(frame, self.p.new_pipeline())
        while True:
            self.p.tick()
            pos = self.blanks(pos)
            if pos >= n:
                self.flush(state, "")
                return n
            c = text[pos]
            if c == "\n":
                self.flush(state, "\n")
                pos = self.read_heredocs(pos + 1)
                continue
            if c == "#":
                pos = self.end_of_line(pos)
                continue
            if state.case_pattern:
                pos = self.case_pattern(state, pos, frame)
                continue
            if state.dbracket:
                pos = self.dbracket_token(state, pos, frame)
                continue
            if c == "(" and text.startswith("((", pos) and not state.words:
                pos = self.skip_balanced(pos + 2, "(", ")", depth=2)  # (( arithmetic ))
                continue
            if not text.startswith(("<(", ">("), pos):
                redirect = _REDIRECT.match(text, pos)
                if redirect is not None:
                    pos = self.redirect(state, redirect, frame)
                    continue
            operator = _OPERATOR.match(text, pos)
            if operator is not None:
                pos, done = self.operator(state, operator.group(), operator.end(), until_paren)
                if done:
                    return pos
                continue
            end, value = self.word(pos, frame)
            if end <= pos:
                end = pos + 1  # never stand still on text nothing above consumed
            self.take_word(state, value, text[pos:end], pos)
            pos = end

    def take_word(self, state: _State, value: str, source: str, pos: int) -> None:
        frame = state.frame
        if state.for_header:
            if source == "do":
                state.for_header = False
            elif not state.for_variable:
                state.for_variable = True
                self.p.variables.pop(value, None)
            return
        if state.case_expect == 1:
            state.case_expect = 2
            return
        if state.case_expect == 2:
            state.case_expect = 0
            if source == "in":
                state.case_depth += 1
                state.case_pattern = True
                return
        if state.expect_function:
            state.expect_function = False
            if _FUNCTION_NAME.match(value):
                self.p.functions[value] = None
                state.pending_function = value
            return
        at_start = not state.words and not state.assignments and not state.redirects
        if at_start and self.reserved(state, source, pos):
            return
        if state.start_line is None:
            state.start_line = self.line_at(pos, frame)
        if not state.words and _ASSIGNMENT.match(source):
            state.assignments.append(value[:_MAX_FULL_WORD])
            return
        state.word_count += 1
        if len(state.words) < MAX_ARGS:
            state.words.append(value)

    def reserved(self, state: _State, word: str, pos: int) -> bool:
        """Handle a reserved word in command position; False if ``word`` is not one."""
        if word in _RESERVED_SKIP:
            return True
        if word == "{":
            state.groups.append(("}", self.function_context(state)))
            return True
        if word == "}":
            if state.groups and state.groups[-1][0] == "}":
                state.groups.pop()
            return True
        if word in ("for", "select"):
            state.for_header, state.for_variable = True, False
            return True
        if word == "case":
            state.case_expect = 1
            return True
        if word == "esac":
            state.case_depth = max(0, state.case_depth - 1)
            state.case_pattern = False
            return True
        if word == "function":
            state.expect_function = True
            return True
        if word == "[[":
            state.dbracket = True
            state.start_line = self.line_at(pos, state.frame)
            state.words.append("[[")
            state.word_count += 1
            return True
        return False

    def function_context(self, state: _State) -> str | None:
        name, state.pending_function = state.pending_function, None
        return f"function {name}" if name is not None else None

    def operator(
        self, state: _State, operator: str, pos: int, until_paren: bool
    ) -> tuple[int, bool]:
        """Act on an operator; (the position after it, whether the substitution ended)."""
        if operator == "(":
            following = self.blanks(pos)
            name = state.words[0] if state.word_count == 1 else None
            if (
                following < self.n
                and self.text[following] == ")"
                and not state.assignments
                and ((name is not None and _FUNCTION_NAME.match(name)) or state.pending_function)
            ):
                if name is not None and not state.pending_function:
                    self.p.functions[name] = None
                    state.pending_function = name
                state.words.clear()
                state.word_count = 0
                state.start_line = None
                return following + 1, False
            if state.words:
                self.flush(state, ";")
            state.groups.append((")", self.function_context(state)))
            return pos, False
        if operator == ")":
            if state.groups and state.groups[-1][0] == ")":
                self.flush(state, ";")
                state.groups.pop()
                return pos, False
            if until_paren:
                self.flush(state, "")
                return pos, True
            self.flush(state, ";")
            return pos, False
        self.flush(state, operator)
        if operator in (";;", ";&", ";;&") and state.case_depth:
            state.case_pattern = True
        return pos, False

    def redirect(self, state: _State, match: re.Match[str], frame: _Frame) -> int:
        digits, op = match.group(1), match.group(2)
        if state.start_line is None:
            state.start_line = self.line_at(match.start(), frame)
        pos = self.blanks(match.end())
        target = ""
        if pos < self.n and self.text[pos] not in "\n;&|()":
            if self.text.startswith(("<(", ">("), pos) or self.text[pos] not in "<>":
                end, target = self.word(pos, frame)
                pos = max(end, pos + 1)
        fd = int(digits) if digits is not None else None
        state.redirects.append(Redirect(op, fd, target[:MAX_WORD]))
        if op in ("<<", "<<-"):
            delimiter = target.strip()
            state.heredocs.append(
                _HereDoc(delimiter, op == "<<-", state.pipeline, "", False, 0, frame.depth)
            )
        return pos

    def dbracket_token(self, state: _State, pos: int, frame: _Frame) -> int:
        operator = _DBRACKET_OP.match(self.text, pos)
        if operator is not None:
            if len(state.words) < MAX_ARGS:
                state.words.append(operator.group())
            state.word_count += 1
            return operator.end()
        if _OPERATOR.match(self.text, pos):
            state.dbracket = False
            return pos
        end, value = self.word(pos, frame)
        end = max(end, pos + 1)
        if len(state.words) < MAX_ARGS:
            state.words.append(value)
        state.word_count += 1
        if self.text[pos:end] == "]]":
            state.dbracket = False
        return end

    def case_pattern(self, state: _State, pos: int, frame: _Frame) -> int:
        c = self.text[pos]
        if c in "(|":
            return pos + 1
        if c == ")":
            state.case_pattern = False
            return pos + 1
        if c in ";&<>":
            return pos + 1
        end, value = self.word(pos, frame)
        end = max(end, pos + 1)
        if self.text[pos:end] == "esac":
            state.case_depth = max(0, state.case_depth - 1)
            state.case_pattern = False
        return end

    def read_heredocs(self, pos: int) -> int:
        """Skip the bodies of the here-documents opened on the line just ended (parsing those
        fed to a shell); the position after the last."""
        pending, self.pending = self.pending, []
        text, n = self.text, self.n
        for doc in pending:
            start = pos
            body_end = n
            while pos < n:
                end = self.end_of_line(pos)
                line = text[pos:end]
                if (line.lstrip("\t") if doc.strip_tabs else line).rstrip("\r") == doc.delimiter:
                    body_end = pos
                    pos = end + 1
                    break
                pos = end + 1
            else:
                pos = n
            if doc.feeds_shell:
                body = text[start:body_end]
                self.p.parse_again(body, doc.depth + 1, "here-document", doc.line)
        return min(pos, n)

    # --- one command done --------------------------------------------------------------
    def flush(self, state: _State, separator: str) -> None:
        if state.words or state.assignments or state.redirects:
            self.emit(state, background=separator == "&")
        state.words, state.assignments, state.redirects = [], [], []
        state.word_count = 0
        state.start_line = None
        state.dbracket = False
        state.expect_function = False
        if separator in ("|", "|&"):
            state.stage += 1
        else:
            state.pipeline = self.p.new_pipeline()
            state.stage = 0
        if separator in (";", "\n", "&", "&&", "||"):
            state.for_header = False

    def emit(self, state: _State, background: bool) -> None:
        p = self.p
        if len(p.commands) >= p.max_commands:
            raise _Stop
        full = state.words
        argv = tuple(word[:MAX_WORD] for word in full)
        if not argv:
            kind: CommandKind = "assignment" if state.assignments else "redirection"
        elif argv[0] in p.functions:
            kind = "function"
        elif argv[0] in BUILTINS:
            kind = "builtin"
        else:
            kind = "program"
        line = state.start_line if state.start_line is not None else 1
        command = ShellCommand(
            argv=argv,
            assignments=tuple(a[:MAX_WORD] for a in state.assignments),
            redirects=tuple(state.redirects),
            line=line,
            kind=kind,
            context=state.context(),
            depth=state.frame.depth,
            pipeline=state.pipeline,
            stage=state.stage,
            background=background,
            argv_truncated=state.word_count > len(argv) or any(len(w) > MAX_WORD for w in full),
        )
        p.commands.append(command)
        self.remember(state, full)
        self.nested(state, full, line)

    def remember(self, state: _State, words: list[str]) -> None:
        """Keep the values plain assignments give variables; forget those set otherwise."""
        variables = self.p.variables
        assigned: list[str] = []
        if not words:
            assigned = state.assignments
        elif words[0] in ("export", "declare", "local", "readonly", "typeset"):
            assigned = [w for w in words[1:] if _ASSIGNMENT.match(w)]
        elif words[0] in ("unset", "read", "readarray", "mapfile", "getopts"):
            for word in words[1:]:
                if _NAME.fullmatch(word):
                    variables.pop(word, None)
        for assignment in assigned:
            match = _ASSIGNMENT.match(assignment)
            if match is None or "+=" in assignment[: match.end()] or "[" in match.group():
                continue
            name, value = match.group(1), assignment[match.end() :]
            # Only plain text: a value still holding $... or `...` is unknown until it runs.
            plain = "$" not in value and "`" not in value and len(value) <= _MAX_VALUE
            if plain and (name in variables or len(variables) < _MAX_VARIABLES):
                variables[name] = value
            else:
                variables.pop(name, None)

    def nested(self, state: _State, words: list[str], line: int) -> None:
        """Parse the shell code this command hands on: ``sh -c``, ``su -c``, ``eval``,
        ``trap``, ``find -exec sh -c``, a here-document read by a shell."""
        depth = state.frame.depth + 1
        _, run = unwrap(words)
        if not run:
            self.attach_heredocs(state, "", False, line)
            return
        name = posixpath.basename(run[0])
        code, from_stdin = shell_code(run)
        if code is not None:
            self.p.parse_again(code, depth, "sh -c", line)
        elif name in ("su", "runuser"):
            for i, arg in enumerate(run[1:-1], 1):
                if arg in ("-c", "--command"):
                    self.p.parse_again(run[i + 1], depth, "su -c", line)
                    break
        elif name == "eval":
            self.p.parse_again(" ".join(run[1:]), depth, "eval", line)
        elif name == "trap":
            args = run[1:]
            if args and args[0] == "--":
                args = args[1:]
            if len(args) >= 2 and not args[0].startswith("-"):
                self.p.parse_again(args[0], depth, "trap", line)
        elif name == "find":
            for i, arg in enumerate(run[:-1]):
                if arg in ("-exec", "-execdir", "-ok", "-okdir"):
                    inner, _ = shell_code(run[i + 1 :])
                    if inner is not None:
                        self.p.parse_again(inner, depth, "sh -c", line)
        self.attach_heredocs(state, name, from_stdin, line)

    def attach_heredocs(self, state: _State, program: str, shell_stdin: bool, line: int) -> None:
        for doc in state.heredocs:
            doc.program, doc.feeds_shell, doc.line = program, shell_stdin, line
        if shell_stdin and state.stage > 0:
            # "cat <<EOF | sh": the document reaches the shell through the pipe.
            for doc in self.pending:
                if doc.pipeline == state.pipeline and doc.program in ("cat", ""):
                    doc.feeds_shell = True
        self.pending.extend(state.heredocs)
        state.heredocs = []


_SIMPLE_TEXT = re.compile(r"[A-Za-z0-9_./,:@%+-]+(?: [A-Za-z0-9_./,:@%+-]+)*")
"""Plain words (no quote, expansion, operator, redirection, glob, comment nor assignment)
separated by single spaces."""
_NOT_PLAIN_FIRST = _RESERVED_SKIP | {"{", "}", "for", "select", "case", "esac", "function", "[["}
_HANDS_ON = _WRAPPERS | SHELLS | {"su", "runuser", "eval", "trap", "find"}
"""Programs whose command line may hold more shell text (see ``_Scan.nested``)."""


def plain_words(text: str, max_commands: int = MAX_COMMANDS) -> list[str] | None:
    """The words of a text that is one command of plain words (``job 12``, ``id -u``: most
    ``sh -c`` texts a trace holds), else None: the command's argv as the parser reads it,
    nothing in them starting a construct, taking an assignment or handing text on to be
    parsed again (see :func:`_plain_command`)."""
    if max_commands < 1 or len(text) > MAX_TEXT or _SIMPLE_TEXT.fullmatch(text) is None:
        return None
    words = text.split(" ")
    first = words[0]
    if (
        len(words) > MAX_ARGS
        or first in _NOT_PLAIN_FIRST
        or posixpath.basename(first) in _HANDS_ON
        or max(map(len, words)) > MAX_WORD
    ):
        return None
    return words


def _plain_command(text: str, max_commands: int) -> ParsedScript | None:
    """What the parser makes of a text of :func:`plain_words`, without running it; None for
    any other text."""
    words = plain_words(text, max_commands)
    if words is None:
        return None
    kind: CommandKind = "builtin" if words[0] in BUILTINS else "program"
    command = ShellCommand(argv=tuple(words), kind=kind)
    return ParsedScript(commands=(command,), functions=(), truncated=False)


def parse_script(text: str, *, max_commands: int = MAX_COMMANDS) -> ParsedScript:
    """The commands of the shell text ``text``, in the order they appear (the commands of a
    ``$(...)`` before the command using it). Never raises; see the module for the bounds."""
    plain = _plain_command(text, max_commands)
    if plain is not None:
        return plain
    return _parse_script(text, max_commands)


def _parse_script(text: str, max_commands: int) -> ParsedScript:
    source = text[:MAX_TEXT]
    parser = _Parser(max(0, max_commands), RESCAN_FACTOR * len(source) + (1 << 16))
    try:
        _Scan(parser, source).run(_Frame(0, "", None))
    except _Stop:
        parser.truncated = True
    except (RecursionError, MemoryError, ValueError, IndexError):  # pragma: no cover
        # Defence in depth: a defect met on hostile text costs the rest of the script only.
        parser.truncated = True
    return ParsedScript(
        commands=tuple(parser.commands),
        functions=tuple(parser.functions),
        truncated=parser.truncated or len(text) > MAX_TEXT,
    )
