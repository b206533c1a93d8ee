"""Linux constants the behaviour model decodes that are the same on every architecture.

Address families, ``AT_FDCWD``, clone flags, the ``fcntl`` duplication commands and the
ptrace request names. What differs between architectures (syscall numbers, errno values,
signal numbers, open flag bits, socket types) is decoded with the run's syscall ABI
(:class:`aasee.arch.SyscallAbi`, see :mod:`.guest_abi`), never from the host's modules.
"""

from __future__ import annotations

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "AT_FDCWD",
    "CLONE_THREAD",
    "F_DUPFD",
    "F_DUPFD_CLOEXEC",
    "PTRACE_REQUESTS",
    "ptrace_request_name",
]

AT_FDCWD = -100
CLONE_THREAD = 0x10000

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10

F_DUPFD = 0
F_DUPFD_CLOEXEC = 1030


PTRACE_REQUESTS: dict[int, str] = {
    0: "PTRACE_TRACEME",
    1: "PTRACE_PEEKTEXT",
    2: "PTRACE_PEEKDATA",
    3: "PTRACE_PEEKUSER",
    4: "PTRACE_POKETEXT",
    5: "PTRACE_POKEDATA",
    6: "PTRACE_POKEUSER",
    7: "PTRACE_CONT",
    8: "PTRACE_KILL",
    9: "PTRACE_SINGLESTEP",
    12: "PTRACE_GETREGS",
    13: "PTRACE_SETREGS",
    14: "PTRACE_GETFPREGS",
    15: "PTRACE_SETFPREGS",
    16: "PTRACE_ATTACH",
    17: "PTRACE_DETACH",
    18: "PTRACE_GETFPXREGS",
    19: "PTRACE_SETFPXREGS",
    24: "PTRACE_SYSCALL",
    25: "PTRACE_GET_THREAD_AREA",
    26: "PTRACE_SET_THREAD_AREA",
    30: "PTRACE_ARCH_PRCTL",
    31: "PTRACE_SYSEMU",
    32: "PTRACE_SYSEMU_SINGLESTEP",
    33: "PTRACE_SINGLEBLOCK",
    0x4200: "PTRACE_SETOPTIONS",
    0x4201: "PTRACE_GETEVENTMSG",
    0x4202: "PTRACE_GETSIGINFO",
    0x4203: "PTRACE_SETSIGINFO",
    0x4204: "PTRACE_GETREGSET",
    0x4205: "PTRACE_SETREGSET",
    0x4206: "PTRACE_SEIZE",
    0x4207: "PTRACE_INTERRUPT",
    0x4208: "PTRACE_LISTEN",
    0x4209: "PTRACE_PEEKSIGINFO",
    0x420A: "PTRACE_GETSIGMASK",
    0x420B: "PTRACE_SETSIGMASK",
    0x420C: "PTRACE_SECCOMP_GET_FILTER",
    0x420D: "PTRACE_SECCOMP_GET_METADATA",
    0x420E: "PTRACE_GET_SYSCALL_INFO",
    0x420F: "PTRACE_GET_RSEQ_CONFIGURATION",
}


def ptrace_request_name(request: int) -> str | None:
    return PTRACE_REQUESTS.get(request)
