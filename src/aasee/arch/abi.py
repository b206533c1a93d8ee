"""Syscall ABIs: the numbers a guest kernel prints, and what they mean on that architecture.

Owns :class:`SyscallAbi`, loaded from ``tables/<name>.json``. Syscall numbers, errno values,
signal numbers, ``open()`` flag bits and socket types all differ between architectures (MIPS
o32 numbers its syscalls from 4000, its ``O_CREAT`` is 0x100, its ``SIGCHLD`` 18 and its
``SOCK_STREAM`` 2), so the trace of each guest is decoded with its own tables. The tables are
generated from the Linux UAPI headers of Debian's cross C libraries by
``scripts/gen_abi_tables.py`` and committed; they never change at run time.

Table format (numbers as JSON object keys are decimal strings)::

    {"abi": "mips-o32", "description": "...", "source": "<compiler, packages, versions>",
     "compiler": "...", "packages": {"linux-libc-dev-mips-cross": "6.1.8-1cross2", ...},
     "syscall_base": 4000,                       # first number of the ABI's syscall range
     "signal_rt": {"min": 32, "max": 128},       # the kernel's SIGRTMIN and SIGRTMAX
     "open_flags": {"O_CREAT": 256, ...},        # kernel values, O_LARGEFILE included
     "socket_types": {"2": "SOCK_STREAM", ...},
     "signals": {"9": "SIGKILL", ...}, "errno": {"1": "EPERM", ...},
     "syscalls_from_headers_up_to": 4450, "syscalls_added": [4451, ...],
     "syscalls": {"4001": "exit", ...}}

The formats of the names are fixed whatever the ABI: unknown syscall numbers in the ABI's range
read ``syscall_<n>`` (outside it ``invalid``), unknown errno values ``errno <n>``, unknown
signals ``signal <n>``, real-time signals ``SIGRTMIN+<k>``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["FMODE_EXEC", "RT_RESERVED", "SYSCALL_RANGE", "SyscallAbi", "abi_names", "get_abi"]

FMODE_EXEC = 0x20
"""Set by the kernel itself in ``open_flag`` when execve opens a binary: the same everywhere."""

SYSCALL_RANGE = 4096
"""Numbers from an ABI's ``syscall_base`` below base + this are syscalls, known or not."""

RT_RESERVED = 2
"""Real-time signals the C libraries keep for themselves (glibc's and musl's threads): what
programs call ``SIGRTMIN`` is the kernel's SIGRTMIN + 2."""

# Open flags reported by name, in this order; O_LARGEFILE is left out on purpose (64-bit
# kernels force it on every open, 32-bit C libraries pass it on every open) but counts as
# known. The access mode (O_RDONLY, O_WRONLY, O_RDWR) always comes first.
_NAMED_FLAGS = (
    "O_CREAT",
    "O_EXCL",
    "O_NOCTTY",
    "O_TRUNC",
    "O_APPEND",
    "O_NONBLOCK",
    "O_SYNC",
    "O_DSYNC",
    "O_DIRECT",
    "O_TMPFILE",
    "O_DIRECTORY",
    "O_NOFOLLOW",
    "O_NOATIME",
    "O_CLOEXEC",
    "O_PATH",
)
_ACCESS = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")


class SyscallAbi:
    """Decoding tables of one syscall ABI (``x86_64``, ``i386``, ``aarch64``, ``arm``...)."""

    def __init__(self, name: str, table: dict[str, object]) -> None:
        self.name = name
        self.description = str(table.get("description", ""))
        self.source = str(table.get("source", ""))
        self.syscalls = {int(k): str(v) for k, v in _mapping(table, "syscalls").items()}
        self.errno = {int(k): str(v) for k, v in _mapping(table, "errno").items()}
        self.signals = {int(k): str(v) for k, v in _mapping(table, "signals").items()}
        self.socket_types = {int(k): str(v) for k, v in _mapping(table, "socket_types").items()}
        self.open_flags = {str(k): _int(v) for k, v in _mapping(table, "open_flags").items()}
        rt = _mapping(table, "signal_rt")
        self.sigrtmin = _int(rt["min"])
        self.sigrtmax = _int(rt["max"])
        self.syscall_base = _int(table.get("syscall_base", 0))
        self.numbers = {name: nr for nr, name in self.syscalls.items()}
        flags = self.open_flags
        self.O_ACCMODE = flags["O_ACCMODE"]
        self.O_WRONLY = flags["O_WRONLY"]
        self.O_RDWR = flags["O_RDWR"]
        self.O_CREAT = flags["O_CREAT"]
        self.O_EXCL = flags["O_EXCL"]
        self.O_TRUNC = flags["O_TRUNC"]
        self.O_APPEND = flags["O_APPEND"]
        self.O_DIRECTORY = flags["O_DIRECTORY"]
        self.O_PATH = flags["O_PATH"]
        self.O_TMPFILE = flags["O_TMPFILE"]
        self.O_SYNC = flags["O_SYNC"]
        self.O_DSYNC = flags["O_DSYNC"]
        self.O_LARGEFILE = flags["O_LARGEFILE"]
        # FMODE_EXEC first, as the kernel sets it on the opens that load a program.
        self._flag_bits = ((FMODE_EXEC, "FMODE_EXEC"),) + tuple(
            (flags[name], name) for name in _NAMED_FLAGS
        )
        known = self.O_ACCMODE | self.O_LARGEFILE
        for bit, _ in self._flag_bits:
            known |= bit
        self._known_flags = known
        self._access = {
            0: "O_RDONLY",
            self.O_WRONLY: "O_WRONLY",
            self.O_RDWR: "O_RDWR",
        }

    def __repr__(self) -> str:
        return f"SyscallAbi({self.name!r})"

    # --- syscalls --------------------------------------------------------------------------
    def syscall_name(self, nr: int) -> str:
        """The syscall's name; unknown numbers get a stable placeholder rather than failing."""
        name = self.syscalls.get(nr)
        if name is not None:
            return name
        # Numbers outside the ABI's range come from garbage or a forged line.
        if 0 <= nr - self.syscall_base < SYSCALL_RANGE:
            return f"syscall_{nr}"
        return "invalid"

    def syscall_number(self, name: str) -> int | None:
        """The number of the syscall ``name`` in this ABI (None if the ABI lacks it)."""
        return self.numbers.get(name)

    def syscall_numbers(self, *names: str) -> frozenset[int]:
        """The numbers of those of ``names`` this ABI has."""
        return frozenset(nr for name in names if (nr := self.numbers.get(name)) is not None)

    # --- errno, signals, sockets -----------------------------------------------------------
    def errno_name(self, value: int) -> str:
        """``ENOENT`` for 2 (or -2); unknown codes stay readable as ``errno 999``."""
        value = abs(value)
        return self.errno.get(value, f"errno {value}")

    def signal_name(self, value: int) -> str:
        """``SIGKILL`` for 9, ``SIGRTMIN+3`` for a real-time signal, else ``signal <n>``."""
        name = self.signals.get(value)
        if name is not None:
            return name
        first = self.sigrtmin + RT_RESERVED
        if first <= value <= self.sigrtmax:
            return f"SIGRTMIN+{value - first}"
        return f"signal {value}"

    def socket_type_name(self, value: int) -> str | None:
        """``SOCK_STREAM`` etc. for the type bits of socket()'s second argument."""
        return self.socket_types.get(value)

    # --- open flags ------------------------------------------------------------------------
    def open_flag_names(self, flags: int) -> str:
        """Symbolic form of a kernel ``open_flag`` value, e.g. ``O_WRONLY|O_CREAT|O_TRUNC``.

        The access mode comes first (``O_ACCMODE`` when both access bits are set), then the
        flags set, then the bits no flag explains as one hexadecimal number. A multi-bit flag
        (``O_SYNC``, ``O_TMPFILE``) is named only when all its bits are set, and then its
        single-bit part (``O_DSYNC``, ``O_DIRECTORY``) is not named again.
        """
        access = flags & self.O_ACCMODE
        names = [self._access.get(access, "O_ACCMODE")]
        for bit, name in self._flag_bits:
            if flags & bit == bit:
                names.append(name)
        if "O_SYNC" in names:
            names.remove("O_DSYNC")
        if "O_TMPFILE" in names:
            names.remove("O_DIRECTORY")
        rest = flags & ~self._known_flags
        if rest:
            names.append(hex(rest))
        return "|".join(names)

    def writes(self, flags: int) -> bool:
        """Whether an open with these flags can change the file's contents."""
        return flags & self.O_ACCMODE in (self.O_WRONLY, self.O_RDWR) or bool(
            flags & (self.O_CREAT | self.O_TRUNC | self.O_APPEND)
        )

    def is_tmpfile(self, flags: int) -> bool:
        return flags & self.O_TMPFILE == self.O_TMPFILE


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ABI table value {value!r} is not an integer")
    return value


def _mapping(table: dict[str, object], key: str) -> dict[str, object]:
    value = table.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"ABI table has no '{key}' mapping")
    return value


@cache
def get_abi(name: str) -> SyscallAbi:
    """The tables of ABI ``name``; KeyError if none is shipped."""
    if name not in abi_names():
        raise KeyError(f"no syscall ABI table named {name!r}")
    text = resources.files("aasee.arch").joinpath("tables", f"{name}.json").read_text("utf-8")
    table = json.loads(text)
    if not isinstance(table, dict) or table.get("abi") != name:
        raise ValueError(f"syscall ABI table {name}.json does not describe {name!r}")
    return SyscallAbi(name, table)


@cache
def abi_names() -> tuple[str, ...]:
    """Every ABI with a shipped table."""
    folder = resources.files("aasee.arch").joinpath("tables")
    return tuple(
        sorted(
            entry.name.removesuffix(".json")
            for entry in folder.iterdir()
            if entry.name.endswith(".json")
        )
    )
