"""Linux ABI constants the behaviour model decodes: errno, signals, open flags, ptrace.

Numbers are those of x86-64 Linux, written out here rather than taken from the host's
``errno``/``signal`` modules so that reports mean the same thing whatever the host runs on.
"""

from __future__ import annotations

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "AT_FDCWD",
    "CLONE_THREAD",
    "ERRNO_NAMES",
    "FMODE_EXEC",
    "O_APPEND",
    "O_CREAT",
    "O_DIRECTORY",
    "O_EXCL",
    "O_PATH",
    "O_TRUNC",
    "PTRACE_REQUESTS",
    "SIGNAL_NAMES",
    "errno_name",
    "open_flag_names",
    "ptrace_request_name",
    "signal_name",
]

AT_FDCWD = -100
CLONE_THREAD = 0x10000

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10

O_ACCMODE = 0x3
O_WRONLY = 0x1
O_RDWR = 0x2
O_CREAT = 0x40
O_EXCL = 0x80
O_NOCTTY = 0x100
O_TRUNC = 0x200
O_APPEND = 0x400
O_NONBLOCK = 0x800
O_DSYNC = 0x1000
O_DIRECT = 0x4000
O_LARGEFILE = 0x8000
O_DIRECTORY = 0x10000
O_NOFOLLOW = 0x20000
O_NOATIME = 0x40000
O_CLOEXEC = 0x80000
O_SYNC = 0x101000
O_PATH = 0x200000
O_TMPFILE = 0x410000
# Set by the kernel itself when execve opens the binary and its interpreter.
FMODE_EXEC = 0x20

# O_LARGEFILE is left out on purpose: the kernel forces it on every 64-bit open.
_OPEN_FLAG_BITS: tuple[tuple[int, str], ...] = (
    (FMODE_EXEC, "FMODE_EXEC"),
    (O_CREAT, "O_CREAT"),
    (O_EXCL, "O_EXCL"),
    (O_NOCTTY, "O_NOCTTY"),
    (O_TRUNC, "O_TRUNC"),
    (O_APPEND, "O_APPEND"),
    (O_NONBLOCK, "O_NONBLOCK"),
    (O_SYNC, "O_SYNC"),
    (O_DSYNC, "O_DSYNC"),
    (O_DIRECT, "O_DIRECT"),
    (O_TMPFILE, "O_TMPFILE"),
    (O_DIRECTORY, "O_DIRECTORY"),
    (O_NOFOLLOW, "O_NOFOLLOW"),
    (O_NOATIME, "O_NOATIME"),
    (O_CLOEXEC, "O_CLOEXEC"),
    (O_PATH, "O_PATH"),
)


def open_flag_names(flags: int) -> str:
    """Symbolic form of open(2) flags, e.g. ``O_WRONLY|O_CREAT|O_TRUNC``."""
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[flags & O_ACCMODE]]
    for bit, name in _OPEN_FLAG_BITS:
        # Multi-bit flags (O_SYNC, O_TMPFILE) only count when every bit is set; their
        # single-bit parts are then not repeated.
        if flags & bit == bit:
            names.append(name)
    if "O_SYNC" in names:
        names.remove("O_DSYNC")
    if "O_TMPFILE" in names:
        names.remove("O_DIRECTORY")
    known = O_ACCMODE | O_LARGEFILE
    for bit, _ in _OPEN_FLAG_BITS:
        known |= bit
    rest = flags & ~known
    if rest:
        names.append(hex(rest))
    return "|".join(names)


ERRNO_NAMES: dict[int, str] = {
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    5: "EIO",
    6: "ENXIO",
    7: "E2BIG",
    8: "ENOEXEC",
    9: "EBADF",
    10: "ECHILD",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    15: "ENOTBLK",
    16: "EBUSY",
    17: "EEXIST",
    18: "EXDEV",
    19: "ENODEV",
    20: "ENOTDIR",
    21: "EISDIR",
    22: "EINVAL",
    23: "ENFILE",
    24: "EMFILE",
    25: "ENOTTY",
    26: "ETXTBSY",
    27: "EFBIG",
    28: "ENOSPC",
    29: "ESPIPE",
    30: "EROFS",
    31: "EMLINK",
    32: "EPIPE",
    33: "EDOM",
    34: "ERANGE",
    35: "EDEADLK",
    36: "ENAMETOOLONG",
    37: "ENOLCK",
    38: "ENOSYS",
    39: "ENOTEMPTY",
    40: "ELOOP",
    42: "ENOMSG",
    43: "EIDRM",
    44: "ECHRNG",
    45: "EL2NSYNC",
    46: "EL3HLT",
    47: "EL3RST",
    48: "ELNRNG",
    49: "EUNATCH",
    50: "ENOCSI",
    51: "EL2HLT",
    52: "EBADE",
    53: "EBADR",
    54: "EXFULL",
    55: "ENOANO",
    56: "EBADRQC",
    57: "EBADSLT",
    59: "EBFONT",
    60: "ENOSTR",
    61: "ENODATA",
    62: "ETIME",
    63: "ENOSR",
    64: "ENONET",
    65: "ENOPKG",
    66: "EREMOTE",
    67: "ENOLINK",
    68: "EADV",
    69: "ESRMNT",
    70: "ECOMM",
    71: "EPROTO",
    72: "EMULTIHOP",
    73: "EDOTDOT",
    74: "EBADMSG",
    75: "EOVERFLOW",
    76: "ENOTUNIQ",
    77: "EBADFD",
    78: "EREMCHG",
    79: "ELIBACC",
    80: "ELIBBAD",
    81: "ELIBSCN",
    82: "ELIBMAX",
    83: "ELIBEXEC",
    84: "EILSEQ",
    85: "ERESTART",
    86: "ESTRPIPE",
    87: "EUSERS",
    88: "ENOTSOCK",
    89: "EDESTADDRREQ",
    90: "EMSGSIZE",
    91: "EPROTOTYPE",
    92: "ENOPROTOOPT",
    93: "EPROTONOSUPPORT",
    94: "ESOCKTNOSUPPORT",
    95: "EOPNOTSUPP",
    96: "EPFNOSUPPORT",
    97: "EAFNOSUPPORT",
    98: "EADDRINUSE",
    99: "EADDRNOTAVAIL",
    100: "ENETDOWN",
    101: "ENETUNREACH",
    102: "ENETRESET",
    103: "ECONNABORTED",
    104: "ECONNRESET",
    105: "ENOBUFS",
    106: "EISCONN",
    107: "ENOTCONN",
    108: "ESHUTDOWN",
    109: "ETOOMANYREFS",
    110: "ETIMEDOUT",
    111: "ECONNREFUSED",
    112: "EHOSTDOWN",
    113: "EHOSTUNREACH",
    114: "EALREADY",
    115: "EINPROGRESS",
    116: "ESTALE",
    117: "EUCLEAN",
    118: "ENOTNAM",
    119: "ENAVAIL",
    120: "EISNAM",
    121: "EREMOTEIO",
    122: "EDQUOT",
    123: "ENOMEDIUM",
    124: "EMEDIUMTYPE",
    125: "ECANCELED",
    126: "ENOKEY",
    127: "EKEYEXPIRED",
    128: "EKEYREVOKED",
    129: "EKEYREJECTED",
    130: "EOWNERDEAD",
    131: "ENOTRECOVERABLE",
    132: "ERFKILL",
    133: "EHWPOISON",
    # Kernel-internal codes that can still leak out of a kretprobe before the syscall
    # layer translates them.
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK",
    517: "EPROBE_DEFER",
    518: "EOPENSTALE",
    524: "ENOTSUPP",
}


def errno_name(errno: int) -> str:
    """``ENOENT`` for 2 (or -2); unknown codes stay readable as ``errno 999``."""
    errno = abs(errno)
    return ERRNO_NAMES.get(errno, f"errno {errno}")


SIGNAL_NAMES: dict[int, str] = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
    16: "SIGSTKFLT",
    17: "SIGCHLD",
    18: "SIGCONT",
    19: "SIGSTOP",
    20: "SIGTSTP",
    21: "SIGTTIN",
    22: "SIGTTOU",
    23: "SIGURG",
    24: "SIGXCPU",
    25: "SIGXFSZ",
    26: "SIGVTALRM",
    27: "SIGPROF",
    28: "SIGWINCH",
    29: "SIGIO",
    30: "SIGPWR",
    31: "SIGSYS",
}


def signal_name(signal: int) -> str:
    if signal in SIGNAL_NAMES:
        return SIGNAL_NAMES[signal]
    if 34 <= signal <= 64:
        return f"SIGRTMIN+{signal - 34}"
    return f"signal {signal}"


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
