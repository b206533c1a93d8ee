"""What programs the sample ran, with which arguments: from exec records, ``sh -c`` text and
the shell scripts static analysis parsed.

Owns turning an exec record into a :class:`Command` (program name, arguments) and reading
the commands out of a shell's ``-c`` script (with the parser of
:mod:`aasee.processing.static.shell`), so rules can ask "was ``iptables -F`` run?" whether
the program was executed (and traced) or only named in a shell command line (a missing
binary, or a shell builtin, leaves no exec); :func:`script_command` turns a command of a
parsed script file into the same shape. The text is sample-controlled: it is parsed as
data, bounded in length and count, and never run.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..static.shell import BUILTINS, ShellCommand, parse_script, plain_words, unwrap

if TYPE_CHECKING:
    from ..static.models import ScriptCommand

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
    "script_command",
]

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})
"""Programs whose ``-c`` argument is a shell script."""

_SCRIPT_LIMIT = 16384
_COMMANDS_LIMIT = 128
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
    via: Literal["exec", "shell", "script"] = "exec"
    """Executed (traced), named in a shell's ``-c`` text, or written in a script file."""
    redirects: tuple[tuple[str, str], ...] = ()
    """(operator, target) of its redirections (shell text and scripts only)."""
    builtin: bool = False
    """Run by the shell itself (``history``, ``export``, ``trap``...): never an exec."""
    context: str = ""
    """Where it sits in the text: ``$(...)``, ``function f``, ``trap``, ``sh -c``..."""
    lineno: int = 0
    """The line of the script file it is on (scripts only)."""
    ran: str = ""
    """Scripts only: JSON Pointer of an exec of the same program and arguments, if traced."""
    ran_pid: int | None = None

    @property
    def line(self) -> str:
        return " ".join(w for w in (*self.env, self.name, *self.args) if w)

    @property
    def written(self) -> str:
        """The program as named (its path when one was written) and its arguments."""
        return " ".join(w for w in (self.program or self.name, *self.args) if w)

    def redirected(self, *ops: str) -> list[str]:
        """Targets of its redirections with these operators (all when none are given)."""
        return [target for op, target in self.redirects if not ops or op in ops]


@dataclass(frozen=True)
class ShellScript:
    """The commands of one ``-c`` script, in order."""

    text: str
    commands: tuple[Command, ...]


def program_name(filename: str, argv: list[str]) -> tuple[str, tuple[str, ...]]:
    """The program an exec ran and its arguments (busybox applets named by their applet)."""
    # posixpath.basename, without its checks (these are strings)
    name = filename[filename.rfind("/") + 1 :] or filename
    args = tuple(argv[1:])
    if name == "busybox" and args:
        first = args[0]
        return first[first.rfind("/") + 1 :], args[1:]
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


def _shaped(
    argv: tuple[str, ...] | list[str], assignments: tuple[str, ...] | list[str]
) -> tuple[str, tuple[str, ...], str, tuple[str, ...], bool]:
    """(name, args, program, env, builtin) of a parsed command, wrappers (sudo, nohup, env,
    busybox...) dropped: the command they run is what matters."""
    env, words = unwrap(argv)
    env = [*assignments, *env]
    if not words and argv:
        words = list(argv)  # the wrapper runs alone (sudo -l, env): it is the command
    if not words:
        return "", (), "", tuple(env), False
    wrapped = len(words) != len(argv)
    name = posixpath.basename(words[0]) or words[0]
    return name, tuple(words[1:]), words[0], tuple(env), name in BUILTINS and not wrapped


def _from_parsed(command: ShellCommand) -> Command:
    name, args, program, env, builtin = _shaped(command.argv, command.assignments)
    return Command(
        name,
        args,
        program,
        env,
        command.pipeline,
        command.stage,
        "shell",
        tuple((r.op, r.target) for r in command.redirects),
        builtin,
        command.context,
    )


def script_command(record: ScriptCommand) -> Command:
    """A command of a parsed script file (``static.script.commands``) as a :class:`Command`."""
    name, args, program, env, builtin = _shaped(record.argv, record.assignments)
    return Command(
        name,
        args,
        program,
        env,
        record.pipeline,
        record.stage,
        "script",
        tuple((r.op, r.target) for r in record.redirects),
        builtin or (record.kind == "builtin" and name in BUILTINS),
        record.context,
        record.line,
    )


def parse_shell(script: str) -> ShellScript:
    """The commands a shell script would run (split at ``;``, ``&&``, ``|``, newlines; those
    of ``$(...)``, ``sh -c`` and ``eval`` text included), wrappers and redirections removed."""
    text = script[:_SCRIPT_LIMIT]
    words = plain_words(text, _COMMANDS_LIMIT)
    if words is not None:
        # One command of plain words (most sh -c texts): what the parser and _from_parsed
        # make of it (no wrapper, assignment nor redirection to take off).
        name = posixpath.basename(words[0]) or words[0]
        command = Command(name, tuple(words[1:]), words[0], (), 0, 0, "shell", (), name in BUILTINS)
        return ShellScript(text=text, commands=(command,))
    parsed = parse_script(text, max_commands=_COMMANDS_LIMIT)
    return ShellScript(text=text, commands=tuple(_from_parsed(c) for c in parsed.commands))
