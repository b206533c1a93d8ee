"""Shell escapes: an interactive shell started from a program that is not a shell (awk,
find, vim, less, python's pty.spawn, perl, gdb, tar, cpan...)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..base import Signature
from ..commands import Command, program_name, program_source
from ..facts import INTERPRETERS, SHELL_NAMES
from ..models import Evidence
from ..query import ReportIndex

if TYPE_CHECKING:
    from ...models import ExecRecord

ESCAPES = frozenset(
    {"awk", "gawk", "mawk", "nawk", "find", "vim", "vi", "vim.basic", "vim.tiny", "rvim",
     "nvim", "view", "emacs", "less", "more", "man", "pager", "gdb", "tar", "zip", "git",
     "ftp", "nmap", "expect", "script", "cpan", "perl", "ruby", "php", "lua", "node", "tclsh",
     "wish", "sqlite3", "mysql", "psql", "ed", "flock", "socat", "openssl", "ssh", "rsync",
     "xargs", "strace", "ltrace", "taskset", "watch", "run-parts", "setarch", "unshare",
     "capsh", "busybox"}
)  # fmt: skip
# Launchers that pass the command line through: the real parent is beyond them.
PASS_THROUGH = frozenset({"env", "nohup", "setsid", "stdbuf", "timeout", "nice", "ionice"})


def _running(record: ExecRecord) -> str:
    """The program an exec runs; for a #! script, its interpreter (argv[0] after the kernel
    rewrote it), since that is what reads and runs the code."""
    name = program_name(record.filename, record.argv)[0]
    first = posixpath.basename(record.argv[0]) if record.argv else ""
    if first != name and (first in SHELL_NAMES or first.startswith(INTERPRETERS)):
        return first
    return name


def _interactive(command: Command) -> bool:
    if command.name not in SHELL_NAMES:
        return False
    if any(a.startswith("-") and not a.startswith("--") and ("i" in a or "p" in a)
           for a in command.args):  # fmt: skip
        return True
    source = program_source(command.name, command.args)
    return source is not None and source.kind == "stdin"


class ShellEscape(Signature):
    id = "execution_shell_escape"
    name = "Starts an interactive shell from another program"
    description = (
        "An interactive shell (no script nor -c code, or -i/-p) whose nearest parent that is "
        "not a shell is a program able to run commands: awk, find, vim, less, man, gdb, tar, "
        "git, an interpreter (python's pty.spawn, perl, ruby, php), cpan, sqlite3, sudo, "
        "docker...: the shell escapes of privilege escalation and restricted shells. A "
        "shell reading a downloaded script through a pipe is execution_pipe_to_shell."
    )
    severity = "medium"
    category = "execution"
    techniques = ("T1059.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.execs():
            command = Command(*program_name(run.item.filename, run.item.argv))
            if not _interactive(command) or ctx.provenance.piped_into(run.process or ""):
                continue
            launcher = self._launcher(ctx, run.process, run.item.time)
            if launcher is not None:
                yield run.evidence(f"{command.line} started by {launcher}")

    @staticmethod
    def _launcher(ctx: ReportIndex, key: str | None, time: float) -> str | None:
        """The program (not a shell, not a pass-through launcher) that started the shell, if
        it is one able to run commands."""
        process = ctx.process(key)
        if process is None:
            return None
        chain: list[str] = []
        earlier = [e for e in process.execs if e.time < time]
        if earlier:  # the process ran something else before it became the shell
            chain.append(_running(earlier[-1]))
        for ancestor in list(ctx.lineage(process.parent))[:6]:
            if ancestor.execs:  # one that did not exec runs its parent's program
                chain.append(_running(ancestor.execs[-1]))
        for name in chain:
            if name in SHELL_NAMES or name in PASS_THROUGH:
                continue
            base = name.rstrip("0123456789.")
            if name in ESCAPES or base in ("python", "perl", "ruby", "php", "lua", "node"):
                return name
            return None
        return None
