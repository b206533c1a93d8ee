"""Tracking state of the behaviour model: processes, their descriptors, calls awaiting results.

Owns the plain records the builder keeps while it walks the trace; they never leave the
processing package (the report holds pydantic models built from them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .guest_abi import AbiNumbers
from .models import ExecRecord
from .trace_parser import TraceEvent

__all__ = ["UNREADABLE", "FdEntry", "PendingCall", "ProcessState", "TaskState"]

UNREADABLE = "<unreadable>"
"""Stands for a string the kernel could not read (``(fault)`` in the trace)."""


@dataclass(slots=True)
class FdEntry:
    """What a descriptor refers to, as far as the trace showed it."""

    kind: Literal["file", "dir", "socket"]
    path: str | None = None
    family: int | None = None
    sotype: int | None = None


@dataclass(eq=False)
class ProcessState:
    """One process node (thread group) while the trace is read."""

    key: str
    pid: int
    ppid: int | None
    parent: str | None
    comm: str
    start: float
    cwd: str
    abi: AbiNumbers
    """The syscall ABI of the program the process runs (it changes when it execs another)."""
    image: str | None = None
    argv: list[str] = field(default_factory=list)
    argv_truncated: bool = False
    exit: float | None = None
    status: int | None = None
    status_from_leader: bool = False
    threads: list[int] = field(default_factory=list)
    execs: list[ExecRecord] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    fds: dict[int, FdEntry] = field(default_factory=dict)
    # A fork shares the table until either side changes it: a fork bomb must not copy it
    # thousands of times.
    fds_shared: bool = False
    # Counted by number while tracing, in the process's current ABI; named once at the end.
    syscalls: dict[int, int] = field(default_factory=dict)
    # The counts of every ABI the process used, by ABI name (``syscalls`` is one of them).
    syscalls_by_abi: dict[str, dict[int, int]] = field(default_factory=dict)
    # Exec'd without an argv record yet: on some architectures (arm, arm64) the probe reading
    # argv fires when the exec returns to user space, after the exec event.
    awaiting_argv: bool = False
    # The working directory the report shows: at the last exec, else at process start.
    cwd_shown: str = ""


@dataclass(slots=True, eq=False)
class PendingCall:
    """A probe event waiting for its result.

    ``paths`` are resolved when the call is made (the cwd and descriptors in force then);
    ``socket_fd`` is the descriptor argument of the connect/bind syscall around the probe;
    ``abi`` the syscall ABI the process was in when it made the call.
    """

    event: TraceEvent
    proc: ProcessState
    abi: AbiNumbers
    paths: tuple[str, ...] = ()
    socket_fd: int | None = None
    ret: int | None = None
    sys_ret: int | None = None


@dataclass(slots=True, eq=False)
class TaskState:
    """Per-thread state: the syscall in progress and the probe events inside it.

    ``abi`` is the ABI ``nr`` was entered in (a process changes ABI inside execve).
    """

    nr: int | None = None
    abi: AbiNumbers | None = None
    args: Sequence[int] = ()
    calls: list[PendingCall] = field(default_factory=list)
    argv: TraceEvent | None = None
