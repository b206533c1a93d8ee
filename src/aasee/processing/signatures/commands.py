"""What programs the sample ran, with which arguments: from exec records and ``sh -c`` text.

Owns turning an exec record into a :class:`Command` (program name, arguments) and reading
the commands out of a shell's ``-c`` script, so rules can ask "was ``iptables -F`` run?"
whether the program was executed (and traced) or only named in a shell command line (a
missing binary, or a shell builtin, leaves no exec). The script is sample-controlled text:
it is parsed as data, bounded in length and count, and never run.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SHELLS",
    "Command",
    "ShellScript",
    "ProgramSource",
    "inline_code",
    "is_interpreter",
    "parse_shell",
    "program_name",
    "program_source",
    "script_argument",
]

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})
"""Programs whose ``-c`` argument is a shell script."""

_SCRIPT_LIMIT = 8192
_COMMANDS_LIMIT = 128
_OPERATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", ";;"})
_REDIRECTS = frozenset({">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Programs that run the command they are given: the command is what matters.
_WRAPPERS = frozenset(
    {"sudo", "nohup", "env", "timeout", "nice", "exec", "setsid", "command", "stdbuf", "time"}
)
_INLINE_FLAGS = {"perl": "-e", "ruby": "-e", "php": "-r", "node": "-e", "lua": "-e"}


@dataclass(frozen=True)
class Command:
    """One program run: ``name`` is its basename, ``args`` what followed it."""

    name: str
    """Basename of the program; empty for a line of only ``NAME=value`` assignments."""
    args: tuple[str, ...]
    program: str = ""
    """The program as it was named: the exec's file name, or the word in the script."""
    env: tuple[str, ...] = ()
    """``NAME=value`` assignments written before the command (shell text only)."""
    pipeline: int = 0
    """Which pipeline of the script it belongs to (shell text only)."""
    stage: int = 0
    """Its position in that pipeline: 0 is the first command."""
    via: Literal["exec", "shell"] = "exec"

    @property
    def line(self) -> str:
        return " ".join((*self.env, self.name, *self.args))


@dataclass(frozen=True)
class ShellScript:
    """The commands of one ``-c`` script, in order."""

    text: str
    commands: tuple[Command, ...]


def program_name(filename: str, argv: list[str]) -> tuple[str, tuple[str, ...]]:
    """The program an exec ran and its arguments (busybox applets named by their applet)."""
    name = posixpath.basename(filename) or filename
    args = tuple(argv[1:])
    if name == "busybox" and args:
        return posixpath.basename(args[0]), args[1:]
    return name, args


def is_interpreter(name: str) -> bool:
    """A shell or scripting language that runs code it is given."""
    base = name.rstrip("0123456789.")
    return name in SHELLS or base in {"python", "perl", "ruby", "php", "node", "lua", "tclsh"}


def inline_code(name: str, args: tuple[str, ...]) -> tuple[str, str] | None:
    """(language, code) when the command runs code given on its command line."""
    flag = "-c" if name in SHELLS or name.startswith("python") else None
    if flag is None:
        base = name.rstrip("0123456789.")
        flag = _INLINE_FLAGS.get(base)
    if flag is None:
        return None
    for i, arg in enumerate(args):
        if arg == "--":
            return None
        # Option clusters such as "-ec" carry the flag too (shells); python needs "-c".
        clustered = name in SHELLS and arg.startswith("-") and not arg.startswith("--")
        if arg == flag or (clustered and flag[1] in arg[1:]):
            if i + 1 < len(args):
                language = "sh" if name in SHELLS else name.rstrip("0123456789.")
                return language, args[i + 1]
            return None
        if not arg.startswith("-"):
            return None
    return None


@dataclass(frozen=True)
class ProgramSource:
    """Where an interpreter takes the program it runs from."""

    kind: Literal["file", "code", "module", "stdin"]
    value: str = ""
    """The script path as given (``file``), the code (``code``) or the module (``module``)."""


@dataclass(frozen=True)
class _Syntax:
    """How one interpreter's command line names its program (only what tells file from not)."""

    code: frozenset[str]
    """Options whose value is code to run (``-c``, ``-e``, ``--eval``)."""
    module: frozenset[str] = frozenset()
    """Options whose value is a module or library to run (``python -m``)."""
    stdin: frozenset[str] = frozenset()
    """Options that make it read the program from standard input (``sh -s``)."""
    valued: frozenset[str] = frozenset()
    """Other options that take the next argument as their value unless attached."""
    script: frozenset[str] = frozenset()
    """Options whose value is the script file (``php -f FILE``)."""
    info: frozenset[str] = frozenset({"--version", "--help"})
    """Options after which it prints something about itself and runs nothing."""
    clusters: bool = True
    """Single-letter options may be combined (``-ec``, ``-uWignore``)."""


_SHELL_SYNTAX = _Syntax(
    code=frozenset({"-c"}),
    stdin=frozenset({"-s"}),
    valued=frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}),
)
_SYNTAX = {
    "python": _Syntax(
        code=frozenset({"-c"}),
        module=frozenset({"-m"}),
        valued=frozenset({"-W", "-X", "--check-hash-based-pycs"}),
        info=frozenset({"--version", "-V", "-VV", "--help", "-h", "-?", "--help-all"}),
    ),
    "perl": _Syntax(code=frozenset({"-e", "-E"}), info=frozenset({"-v", "-V", "-h"})),
    "ruby": _Syntax(
        code=frozenset({"-e"}), valued=frozenset({"-I", "-r", "-C", "-E", "-F", "-K", "-T"})
    ),
    "node": _Syntax(
        code=frozenset({"-e", "--eval", "-p", "--print"}),
        valued=frozenset(
            {
                "-r",
                "--require",
                "--import",
                "--loader",
                "--experimental-loader",
                "-C",
                "--conditions",
                "--input-type",
                "--env-file",
                "--title",
            }
        ),  # fmt: skip
        info=frozenset({"-v", "--version", "-h", "--help"}),
        clusters=False,
    ),
    "php": _Syntax(
        code=frozenset({"-r", "-R", "-B", "-E"}),
        stdin=frozenset({"-a"}),
        valued=frozenset({"-c", "-d", "-z", "-t", "-S"}),
        script=frozenset({"-f"}),
        info=frozenset({"-v", "--version", "-h", "--help", "-i", "--info", "-m", "--modules"}),
    ),
    "lua": _Syntax(code=frozenset({"-e"}), module=frozenset({"-l"})),
    "tclsh": _Syntax(code=frozenset(), clusters=False),
}
# Letters that take the rest of a perl option cluster as their value (-I/dir, -MMod, -i.bak);
# -l and -0 take only the octal digits that follow them.
_PERL_ATTACHED = frozenset("IMmixdDC")
_PERL_DIGITS = frozenset("l0")


def _syntax(name: str) -> _Syntax | None:
    if name in SHELLS:
        return _SHELL_SYNTAX if name != "busybox" else None
    return _SYNTAX.get(name.rstrip("0123456789."))


def _cluster_option(syntax: _Syntax, arg: str, base: str) -> tuple[str | None, str | None]:
    """The option of a cluster that matters (``-ec`` -> ``-c``) and its attached value, if
    any (``-uWignore`` -> ``-W``, ``ignore``)."""
    wanted = syntax.code | syntax.module | syntax.stdin | syntax.script | syntax.valued
    k = 1
    while k < len(arg):
        letter, rest = arg[k], arg[k + 1 :]
        if arg[0] + letter in wanted:
            return arg[0] + letter, rest or None
        if base == "perl" and letter in _PERL_ATTACHED:
            return None, rest or None  # the rest of the cluster is this option's value
        if base == "perl" and letter in _PERL_DIGITS:
            k += len(rest) - len(rest.lstrip("01234567"))
        k += 1
    return None, None


def program_source(name: str, args: tuple[str, ...]) -> ProgramSource | None:
    """Where the interpreter ``name`` run with ``args`` takes its program from.

    ``None`` when ``name`` is not an interpreter or the command line runs nothing (``--help``,
    ``--version``). Options are read the way the interpreter reads them, so ``sh -e x.sh``
    runs the file ``x.sh``, ``python3 -W ignore x.py`` the file ``x.py``, ``sh -c CODE x``
    code, ``python3 -m pkg`` a module, and ``sh``, ``sh -s`` or ``python3 -`` standard input.
    """
    syntax = _syntax(name)
    if syntax is None:
        return None
    base = name.rstrip("0123456789.")
    args = args[:64]
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--":
            return ProgramSource("file", following) if following else ProgramSource("stdin")
        if arg == "-":
            return ProgramSource("stdin")
        if not arg.startswith(("-", "+")) or (arg.startswith("+") and name not in SHELLS):
            return ProgramSource("file", arg)
        if arg in syntax.info:
            return None
        option: str | None = arg
        attached: str | None = None
        if arg.startswith("--") and "=" in arg:
            option, attached = arg.split("=", 1)
        elif syntax.clusters and not arg.startswith("--") and len(arg) > 2:
            option, attached = _cluster_option(syntax, arg, base)
            if syntax is _SHELL_SYNTAX:
                attached = None  # shell letters take no attached value: "-ce CODE"
        value = attached if attached is not None else following
        if option in syntax.code:
            return ProgramSource("code", value)
        if option in syntax.module:
            return ProgramSource("module", value)
        if option in syntax.stdin:
            return ProgramSource("stdin")
        if option in syntax.script:
            return ProgramSource("file", value) if value else None
        i += 2 if option in syntax.valued and attached is None else 1
    return ProgramSource("stdin")


def script_argument(name: str, args: tuple[str, ...]) -> str | None:
    """The script file an interpreter was given (``sh x.sh``, ``python3 x.py``), if any."""
    source = program_source(name, args)
    return source.value if source is not None and source.kind == "file" else None


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:
        # Unbalanced quotes: the words are still worth looking at.
        return line.split()


def _unwrap(words: list[str]) -> tuple[list[str], list[str]]:
    """Drop wrappers (sudo, nohup, env...) and leading assignments: (assignments, command)."""
    env: list[str] = []
    for _ in range(8):
        while words and _ASSIGNMENT.match(words[0]):
            env.append(words.pop(0))
        if not words or posixpath.basename(words[0]) not in _WRAPPERS | {"busybox"}:
            break
        wrapper = posixpath.basename(words.pop(0))
        # Options of the wrapper, and the duration timeout takes, come before the command.
        while words and (
            words[0].startswith("-") or (wrapper == "timeout" and words[0][:1].isdigit())
        ):
            option = words.pop(0)
            if wrapper in ("sudo", "nice") and option in ("-u", "-g", "-n") and words:
                words.pop(0)
    return env, words


def parse_shell(script: str) -> ShellScript:
    """The commands a shell script would run, split at ``;``, ``&&``, ``|``, newlines."""
    text = script[:_SCRIPT_LIMIT]
    commands: list[Command] = []
    pipeline = 0
    stage = 0

    def flush(words: list[str]) -> None:
        env, words = _unwrap(words)
        if len(commands) >= _COMMANDS_LIMIT or not (words or env):
            return
        if not words:
            # Only assignments ("HISTFILE=/dev/null"): a command without a program.
            commands.append(Command("", (), "", tuple(env), pipeline, stage, "shell"))
            return
        name = posixpath.basename(words[0]) or words[0]
        commands.append(
            Command(name, tuple(words[1:]), words[0], tuple(env), pipeline, stage, "shell")
        )

    for line in text.splitlines():
        words: list[str] = []
        tokens = iter(_tokens(line))
        for token in tokens:
            if token in _REDIRECTS:
                if words and words[-1].isdigit():
                    words.pop()
                next(tokens, None)  # the redirection's target is a file, not an argument
            elif token in _OPERATORS:
                flush(words)
                words = []
                if token in ("|", "|&"):
                    stage += 1
                else:
                    pipeline, stage = pipeline + 1, 0
            else:
                words.append(token)
        flush(words)
        pipeline, stage = pipeline + 1, 0
    return ShellScript(text=text, commands=tuple(commands))
