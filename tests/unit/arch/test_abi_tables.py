"""The syscall ABI tables: spot checks per ABI, the name formats, provenance, and that the
committed tables are what ``scripts/gen_abi_tables.py`` makes of the installed headers."""

from __future__ import annotations

import ast
import importlib.util
import json
import random
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aasee.arch import get_abi, get_profile, profiles
from aasee.arch.abi import FMODE_EXEC, abi_names
from aasee.processing.guest_abi import guest_abi

ROOT = Path(__file__).resolve().parents[3]
TABLES = ROOT / "src" / "aasee" / "arch" / "tables"
ARCH = ROOT / "src" / "aasee" / "arch"


def test_every_profile_abi_has_a_table() -> None:
    assert abi_names() == ("aarch64", "arm", "i386", "mips-o32", "x86_64")
    for profile in profiles():
        for name in profile.syscall_abis:
            assert get_abi(name).name == name
    assert get_profile("amd64").syscall_abis == ("x86_64", "i386")


def test_unknown_table_is_a_key_error() -> None:
    for name in ("sparc", "../x86_64", "x86_64.json"):
        with pytest.raises(KeyError):
            get_abi(name)


@pytest.mark.parametrize(
    ("abi", "numbers"),
    [
        (
            "x86_64",
            {0: "read", 2: "open", 41: "socket", 42: "connect", 56: "clone", 59: "execve"}
            | {60: "exit", 257: "openat", 335: "uretprobe", 336: "uprobe", 469: "file_setattr"},
        ),
        (
            "i386",
            {1: "exit", 4: "write", 5: "open", 11: "execve", 15: "chmod", 102: "socketcall"}
            | {120: "clone", 221: "fcntl64", 295: "openat", 359: "socket", 362: "connect"}
            | {452: "fchmodat2"},
        ),
        (
            "aarch64",
            {24: "dup3", 25: "fcntl", 56: "openat", 57: "close", 79: "newfstatat", 93: "exit"}
            | {198: "socket", 203: "connect", 220: "clone", 221: "execve", 469: "file_setattr"},
        ),
        (
            "arm",
            {1: "exit", 4: "write", 5: "open", 11: "execve", 120: "clone", 221: "fcntl64"}
            | {281: "socket", 283: "connect", 322: "openat", 0xF0002: "cacheflush"}
            | {0xF0005: "set_tls"},
        ),
        (
            "mips-o32",
            {4001: "exit", 4004: "write", 4005: "open", 4006: "close", 4011: "execve"}
            | {4063: "dup2", 4102: "socketcall", 4120: "clone", 4170: "connect"}
            | {4183: "socket", 4220: "fcntl64", 4288: "openat", 4469: "file_setattr"},
        ),
    ],
)
def test_syscall_numbers(abi: str, numbers: dict[int, str]) -> None:
    table = get_abi(abi)
    assert {nr: table.syscall_name(nr) for nr in numbers} == numbers
    for nr, name in numbers.items():
        assert table.syscall_number(name) == nr


def test_syscalls_an_abi_lacks() -> None:
    arm64 = get_abi("aarch64")
    assert arm64.syscall_number("open") is None and arm64.syscall_number("dup2") is None
    assert get_abi("x86_64").syscall_number("socketcall") is None
    assert get_abi("i386").syscall_numbers("accept", "accept4") == {364}


def test_unknown_syscall_numbers() -> None:
    x86 = get_abi("x86_64")
    assert [x86.syscall_name(n) for n in (4000, 4095, 4096, -1)] == [
        "syscall_4000",
        "syscall_4095",
        "invalid",
        "invalid",
    ]
    mips = get_abi("mips-o32")
    # o32 numbers start at 4000: below is not a syscall number of the ABI at all.
    assert [mips.syscall_name(n) for n in (3, 4999, 8095, 8096)] == [
        "invalid",
        "syscall_4999",
        "syscall_8095",
        "invalid",
    ]


def test_errno_names() -> None:
    x86, mips = get_abi("x86_64"), get_abi("mips-o32")
    assert [x86.errno_name(n) for n in (2, -2, 111, 11, 35, 512, 999)] == [
        "ENOENT",
        "ENOENT",
        "ECONNREFUSED",
        "EAGAIN",
        "EDEADLK",
        "ERESTARTSYS",
        "errno 999",
    ]
    assert [mips.errno_name(n) for n in (146, 11, 35, 45, 56, 1133, 111)] == [
        "ECONNREFUSED",
        "EAGAIN",
        "ENOMSG",
        "EDEADLK",
        "EDEADLOCK",
        "EDQUOT",
        "errno 111",
    ]
    for abi in abi_names():
        assert get_abi(abi).errno_name(1) == "EPERM"


def test_signal_names() -> None:
    x86, mips = get_abi("x86_64"), get_abi("mips-o32")
    assert [x86.signal_name(n) for n in (6, 9, 10, 17, 31, 32, 33, 34, 64, 65)] == [
        "SIGABRT",
        "SIGKILL",
        "SIGUSR1",
        "SIGCHLD",
        "SIGSYS",
        "signal 32",
        "signal 33",
        "SIGRTMIN+0",
        "SIGRTMIN+30",
        "signal 65",
    ]
    assert [mips.signal_name(n) for n in (6, 7, 10, 12, 16, 17, 18, 22, 34, 128, 129)] == [
        "SIGABRT",
        "SIGEMT",
        "SIGBUS",
        "SIGSYS",
        "SIGUSR1",
        "SIGUSR2",
        "SIGCHLD",
        "SIGIO",
        "SIGRTMIN+0",
        "SIGRTMIN+94",
        "signal 129",
    ]
    # ARM's header names 32 SIGSWI: real-time signals are numbered, never named.
    assert get_abi("arm").signal_name(32) == "signal 32"
    assert get_abi("aarch64").signal_name(17) == "SIGCHLD"


def test_open_flags_differ_per_architecture() -> None:
    x86, arm, arm64, mips = (get_abi(n) for n in ("x86_64", "arm", "aarch64", "mips-o32"))
    assert (x86.O_CREAT, x86.O_DIRECTORY, x86.O_LARGEFILE) == (0x40, 0x10000, 0x8000)
    assert (arm.O_DIRECTORY, arm.O_LARGEFILE, arm.open_flags["O_NOFOLLOW"]) == (
        0x4000,
        0x20000,
        0x8000,
    )
    assert arm64.open_flags == arm.open_flags
    assert (mips.O_CREAT, mips.O_APPEND, mips.O_TRUNC, mips.O_SYNC) == (0x100, 0x8, 0x200, 0x4010)
    assert mips.O_LARGEFILE == 0x2000
    # 0x8341 on x86 is O_WRONLY|O_CREAT|O_NOCTTY|O_TRUNC|O_LARGEFILE; on MIPS O_DIRECT|...
    assert x86.open_flag_names(0x8241) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert mips.open_flag_names(0x2301) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert mips.open_flag_names(0x4018 | 0x1) == "O_WRONLY|O_APPEND|O_SYNC"
    assert arm.open_flag_names(0x20000 | 0x4000) == "O_RDONLY|O_DIRECTORY"
    assert arm.open_flag_names(0x400000 | 0x4000 | 0x2) == "O_RDWR|O_TMPFILE"
    assert x86.open_flag_names(FMODE_EXEC | 0x8000) == "O_RDONLY|FMODE_EXEC"


def test_socket_types() -> None:
    assert get_abi("x86_64").socket_type_name(1) == "SOCK_STREAM"
    assert get_abi("mips-o32").socket_type_name(1) == "SOCK_DGRAM"
    assert get_abi("mips-o32").socket_type_name(2) == "SOCK_STREAM"
    assert get_abi("arm").socket_type_name(7) is None


# The x86-only decoder this replaced (processing/linux.py before the ABI tables), verbatim:
# x86_64 reports must not change by a character.
_OLD_BITS = (
    (0x20, "FMODE_EXEC"),
    (0x40, "O_CREAT"),
    (0x80, "O_EXCL"),
    (0x100, "O_NOCTTY"),
    (0x200, "O_TRUNC"),
    (0x400, "O_APPEND"),
    (0x800, "O_NONBLOCK"),
    (0x101000, "O_SYNC"),
    (0x1000, "O_DSYNC"),
    (0x4000, "O_DIRECT"),
    (0x410000, "O_TMPFILE"),
    (0x10000, "O_DIRECTORY"),
    (0x20000, "O_NOFOLLOW"),
    (0x40000, "O_NOATIME"),
    (0x80000, "O_CLOEXEC"),
    (0x200000, "O_PATH"),
)


def _old_open_flag_names(flags: int) -> str:
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[flags & 0x3]]
    for bit, name in _OLD_BITS:
        if flags & bit == bit:
            names.append(name)
    if "O_SYNC" in names:
        names.remove("O_DSYNC")
    if "O_TMPFILE" in names:
        names.remove("O_DIRECTORY")
    known = 0x3 | 0x8000
    for bit, _ in _OLD_BITS:
        known |= bit
    rest = flags & ~known
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def test_x86_64_open_flags_read_exactly_as_before() -> None:
    x86 = get_abi("x86_64")
    rng = random.Random(7)
    values = [0, 3, 0x241, 0x8241, 0x101000, 0x1000, 0x410000, 0x410002, 0x2000, 0xFFFFFFFF]
    values += [1 << bit for bit in range(32)]
    values += [rng.getrandbits(32) for _ in range(5000)]
    values += [rng.getrandbits(24) & rng.getrandbits(24) for _ in range(5000)]
    for value in values:
        assert x86.open_flag_names(value) == _old_open_flag_names(value), hex(value)
    assert get_abi("i386").open_flags == x86.open_flags


def test_x86_64_followed_numbers_are_the_former_constants() -> None:
    numbers = guest_abi("x86_64").native
    assert numbers.opens == {2, 85, 257, 437}
    assert numbers.args_needed == {3, 32, 33, 292, 72, 41, 43, 288, 42, 49, 56, 81}
    assert numbers.effects == {2, 85, 257, 437, 3, 32, 33, 292, 72, 41, 43, 288, 81}
    assert (numbers.execve, numbers.chdir, numbers.clone) == (59, {80}, {56})


def test_tables_record_their_source() -> None:
    for name in abi_names():
        table = json.loads((TABLES / f"{name}.json").read_text())
        assert table["abi"] == name
        assert "-gcc" in table["compiler"] or table["compiler"].startswith("gcc ")
        assert any(p.startswith("linux-libc-dev") for p in table["packages"]), name
        for package, version in table["packages"].items():
            assert f"{package} {version}" in table["source"]
        # Stable, commit-ready text: numeric keys in numeric order.
        keys = [int(k) for k in table["syscalls"]]
        assert keys == sorted(keys)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_abi_tables", ROOT / "scripts/gen_abi_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up while being defined.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


_COMPILERS = (
    "gcc",
    "i686-linux-gnu-gcc",
    "aarch64-linux-gnu-gcc",
    "arm-linux-gnueabihf-gcc",
    "mips-linux-gnu-gcc",
    "mipsel-linux-gnu-gcc",
    "dpkg-query",
)


def test_committed_tables_are_what_the_headers_give() -> None:
    missing = [c for c in _COMPILERS if shutil.which(c) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make install` installs the cross compilers")
    # Provenance (package versions) moves with the host's packages; the numbers must not.
    generator = _generator()
    for target in generator.TARGETS:
        made = generator.numbers(target)
        committed = json.loads((TABLES / f"{target.abi}.json").read_text())
        assert made == {k: committed[k] for k in made}, target.abi
        assert committed["abi"] == target.abi


def test_arch_imports_only_core_and_itself() -> None:
    for module in ARCH.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "aasee":
                    assert parts[1:2] in (["arch"], ["core"]), f"{module.name} imports {name}"
