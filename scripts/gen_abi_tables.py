#!/usr/bin/env python3
"""Generate the syscall ABI tables ``src/aasee/arch/tables/<abi>.json``.

Each table says what the numbers a guest kernel prints mean for one syscall ABI: syscall
number -> name, errno value -> name, signal number -> name, the kernel's ``open()`` flag bits
and the socket types. Everything is read from the Linux UAPI headers (and, for the socket
types, the C library headers) of Debian's cross C libraries, through each target's own cross
compiler's preprocessor::

    <triplet>-gcc -E -dM -x c -  <<< '#include <asm/unistd.h>'

so no number is written by hand. Every table records the compiler and the Debian packages
(with versions) its headers came from.

Two things the 6.1 UAPI headers cannot give are added, and the table says so:

* syscalls of later kernels (``LATER_SYSCALLS``): from Linux 5.1 on, new syscalls get the
  same number on every architecture (plus 4000 on MIPS o32), so the entries of Linux 6.17's
  ``scripts/syscall.tbl`` and ``arch/*/syscall*.tbl`` above the headers' last number are
  listed here; x86-64 also gained ``uretprobe`` (335, 6.11) and ``uprobe`` (336, 6.14);
* the kernel-internal error codes (``include/linux/errno.h``, 512 and up) that a kretprobe
  can see before the syscall layer translates them: the same on every architecture.

Usage: ``python3 scripts/gen_abi_tables.py [--out DIR] [--check]``; ``--check`` compares
with the committed tables instead of writing (exit status 1 on a difference). Needs the
cross compilers ``gcc``, ``i686-linux-gnu-gcc``, ``aarch64-linux-gnu-gcc``,
``arm-linux-gnueabihf-gcc``, ``mips-linux-gnu-gcc`` and ``mipsel-linux-gnu-gcc`` with their
``linux-libc-dev-*-cross`` and ``libc6-dev-*-cross`` packages (Debian bookworm: ``apt-get
install gcc-<triplet>``).
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "aasee" / "arch" / "tables"


@dataclass(frozen=True)
class Target:
    abi: str
    compiler: str
    description: str
    later_offset: int = 0
    """Added to the unified numbers of ``LATER_SYSCALLS`` (4000 on MIPS o32)."""
    later_only: dict[int, str] = field(default_factory=dict)
    """Later syscalls of this ABI alone (numbers as the ABI has them)."""
    same_as: tuple[str, ...] = ()
    """Further compilers whose headers must give an identical table (mipsel for mips)."""


TARGETS = (
    Target(
        "x86_64",
        "gcc",
        "x86-64 Linux, 64-bit ABI",
        later_only={335: "uretprobe", 336: "uprobe"},
    ),
    Target("i386", "i686-linux-gnu-gcc", "i386 Linux (also the x86-64 kernel's compat ABI)"),
    Target("aarch64", "aarch64-linux-gnu-gcc", "64-bit ARM Linux (asm-generic numbering)"),
    Target("arm", "arm-linux-gnueabihf-gcc", "32-bit ARM Linux, EABI"),
    Target(
        "mips-o32",
        "mips-linux-gnu-gcc",
        "32-bit MIPS Linux, o32 ABI (either byte order)",
        later_offset=4000,
        same_as=("mipsel-linux-gnu-gcc",),
    ),
)

# Syscalls added after Linux 6.1 (the headers' version) up to 6.17, in the unified numbering
# every architecture shares from 424 on (Linux 6.17: scripts/syscall.tbl,
# arch/x86/entry/syscalls/syscall_{32,64}.tbl, arch/arm/tools/syscall.tbl,
# arch/mips/kernel/syscalls/syscall_o32.tbl; map_shadow_stack's number is reserved on all).
LATER_SYSCALLS = {
    451: "cachestat",
    452: "fchmodat2",
    453: "map_shadow_stack",
    454: "futex_wake",
    455: "futex_wait",
    456: "futex_requeue",
    457: "statmount",
    458: "listmount",
    459: "lsm_get_self_attr",
    460: "lsm_set_self_attr",
    461: "lsm_list_modules",
    462: "mseal",
    463: "setxattrat",
    464: "getxattrat",
    465: "listxattrat",
    466: "removexattrat",
    467: "open_tree_attr",
    468: "file_getattr",
    469: "file_setattr",
}
LATER_SOURCE = "Linux 6.17 syscall tables"

# include/linux/errno.h: codes the kernel uses internally; a kretprobe on a kernel function
# can return them before the syscall layer maps them to a user-visible errno.
KERNEL_ERRNO = {
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK",
    517: "EPROBE_DEFER",
    518: "EOPENSTALE",
    524: "ENOTSUPP",
}

# Macros of asm/unistd.h that are not syscalls.
NOT_SYSCALLS = frozenset(
    {
        "syscalls",
        "arch_specific_syscall",
        "Linux",
        "Linux_syscalls",
        "SYSCALL_BASE",
        "SYSCALL_MASK",
        "OABI_SYSCALL_BASE",
        "BASE",
    }
)
# The kernel's open flag bits, as named in asm/fcntl.h (aliases such as O_NDELAY and
# helper masks such as O_TMPFILE_MASK are not flags).
OPEN_FLAGS = (
    "O_ACCMODE",
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "O_CREAT",
    "O_EXCL",
    "O_NOCTTY",
    "O_TRUNC",
    "O_APPEND",
    "O_NONBLOCK",
    "O_DSYNC",
    "FASYNC",
    "O_DIRECT",
    "O_LARGEFILE",
    "O_DIRECTORY",
    "O_NOFOLLOW",
    "O_NOATIME",
    "O_CLOEXEC",
    "O_SYNC",
    "O_PATH",
    "O_TMPFILE",
)
SOCKET_TYPES = (
    "SOCK_STREAM",
    "SOCK_DGRAM",
    "SOCK_RAW",
    "SOCK_RDM",
    "SOCK_SEQPACKET",
    "SOCK_DCCP",
    "SOCK_PACKET",
)
# When two names share a value, the one the kernel and strace print (the others are aliases).
PREFERRED = frozenset({"SIGABRT", "SIGSYS", "SIGIO", "SIGCHLD", "EAGAIN", "EDEADLK", "EOPNOTSUPP"})

_DEFINE = re.compile(r"#define ([A-Za-z_]\w*) (.*)")
_INT = re.compile(r"\b(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[uUlL]*\b")
_ENUM_ITEM = re.compile(r"^\s*(SOCK_[A-Z]+)\s*=\s*(0[xX][0-9a-fA-F]+|[0-9]+)\s*,?\s*$", re.M)
_OPS: dict[type, Callable[..., int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
}


def run(args: list[str], stdin: str = "") -> str:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout


class Macros:
    """The object-like macros one set of includes defines, evaluated as integers."""

    def __init__(self, compiler: str, includes: Iterable[str]) -> None:
        source = "".join(f"#include <{name}>\n" for name in includes)
        baseline = self._defines(run([compiler, "-E", "-dM", "-x", "c", "-"], ""))
        self.text = self._defines(run([compiler, "-E", "-dM", "-x", "c", "-"], source))
        for name in baseline:
            if self.text.get(name) == baseline[name]:
                del self.text[name]
        self._values: dict[str, int | None] = {}

    @staticmethod
    def _defines(output: str) -> dict[str, str]:
        found = {}
        for line in output.splitlines():
            match = _DEFINE.fullmatch(line)
            if match:
                found[match[1]] = match[2].strip()
        return found

    def value(self, name: str, depth: int = 0) -> int | None:
        if name in self._values:
            return self._values[name]
        text = self.text.get(name)
        result = None if text is None or depth > 20 else self._eval(text, depth)
        self._values[name] = result
        return result

    def literal(self, name: str) -> bool:
        """Whether ``name`` is defined as a plain number (not in terms of another macro)."""
        text = self.text.get(name, "")
        return _INT.fullmatch(text.strip("()")) is not None

    def _eval(self, text: str, depth: int) -> int | None:
        # C integer literals (octal included) become decimal Python ones.
        python = _INT.sub(lambda m: str(_c_int(m[1])), text)
        try:
            tree = ast.parse(python, mode="eval")
        except SyntaxError:
            return None

        def walk(node: ast.AST) -> int | None:
            if isinstance(node, ast.Expression):
                return walk(node.body)
            if isinstance(node, ast.Constant) and type(node.value) is int:
                return node.value
            if isinstance(node, ast.Name):
                return self.value(node.id, depth + 1)
            if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
                left, right = walk(node.left), walk(node.right)
                if left is None or right is None:
                    return None
                return _OPS[type(node.op)](left, right)
            if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
                operand = walk(node.operand)
                return None if operand is None else _OPS[type(node.op)](operand)
            return None

        return walk(tree)


def _c_int(text: str) -> int:
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        return int(text, 8)
    return int(text)


def _pick(candidates: dict[int, list[str]], macros: Macros) -> dict[int, str]:
    """One name per value: the preferred one, else the literally defined one, else the first."""
    chosen = {}
    for value, names in candidates.items():
        names.sort(key=lambda n: (n not in PREFERRED, not macros.literal(n), n))
        chosen[value] = names[0]
    return dict(sorted(chosen.items()))


def syscalls(compiler: str) -> tuple[dict[int, str], int]:
    macros = Macros(compiler, ["asm/unistd.h"])
    found: dict[int, list[str]] = {}
    for macro in macros.text:
        if macro.startswith("__NR_"):
            name = macro[len("__NR_") :]
        elif macro.startswith("__ARM_NR_"):
            # ARM's private syscalls (cacheflush, set_tls...) live above 0xf0000.
            name = macro[len("__ARM_NR_") :]
        else:
            continue
        if name in NOT_SYSCALLS:
            continue
        value = macros.value(macro)
        if value is None:
            raise SystemExit(f"{compiler}: cannot evaluate {macro} = {macros.text[macro]}")
        found.setdefault(value, []).append(macro)
    base = macros.value("__NR_Linux") or 0
    picked = _pick(found, macros)
    return {nr: re.sub(r"^__(ARM_)?NR_", "", macro) for nr, macro in picked.items()}, base


def errno_names(compiler: str) -> dict[int, str]:
    macros = Macros(compiler, ["asm/errno.h"])
    found: dict[int, list[str]] = {}
    for macro in macros.text:
        if re.fullmatch(r"E[A-Z0-9]+", macro):
            value = macros.value(macro)
            if value is not None and 0 < value < 4096:
                found.setdefault(value, []).append(macro)
    return _pick(found, macros)


def signal_names(compiler: str) -> tuple[dict[int, str], int, int]:
    macros = Macros(compiler, ["asm/signal.h"])
    rtmin, rtmax = macros.value("SIGRTMIN"), macros.value("SIGRTMAX")
    if rtmax is None:
        # SIGRTMAX is _NSIG, which only some architectures' UAPI headers define; the C
        # library's __SIGRTMAX is the same number there (64).
        rtmax = Macros(compiler, ["signal.h"]).value("__SIGRTMAX")
    if rtmin is None or rtmax is None:
        raise SystemExit(f"{compiler}: SIGRTMIN/SIGRTMAX not found")
    found: dict[int, list[str]] = {}
    for macro in macros.text:
        if re.fullmatch(r"SIG[A-Z0-9]+", macro) and macro not in ("SIGRTMIN", "SIGRTMAX"):
            value = macros.value(macro)
            # Real-time signals are numbered, not named (ARM's SIGSWI is the first of them).
            if value is not None and 0 < value < rtmin:
                found.setdefault(value, []).append(macro)
    return _pick(found, macros), rtmin, rtmax


def open_flags(compiler: str) -> dict[str, int]:
    macros = Macros(compiler, ["asm/fcntl.h"])
    flags = {}
    for name in OPEN_FLAGS:
        value = macros.value(name)
        if value is None:
            raise SystemExit(f"{compiler}: {name} not found in asm/fcntl.h")
        flags[name] = value
    return dict(sorted(flags.items()))


def socket_types(compiler: str) -> dict[int, str]:
    # The kernel keeps MIPS's socket type numbers out of its UAPI headers; the C library's
    # enum has them (glibc's bits/socket_type.h, per architecture).
    text = run([compiler, "-E", "-x", "c", "-"], "#include <sys/socket.h>\n")
    found = {name: _c_int(value) for name, value in _ENUM_ITEM.findall(text)}
    missing = [name for name in SOCKET_TYPES if name not in found]
    if missing:
        raise SystemExit(f"{compiler}: socket types not found: {missing}")
    return dict(sorted((found[name], name) for name in SOCKET_TYPES))


def _headers(compiler: str, includes: Iterable[str]) -> list[str]:
    """Files the preprocessor read for these includes (from its line markers)."""
    source = "".join(f"#include <{name}>\n" for name in includes)
    text = run([compiler, "-E", "-x", "c", "-"], source)
    files = set(re.findall(r'^# \d+ "(/[^"]+)"', text, re.M))
    return sorted(str(Path(f).resolve()) for f in files)


def _packages(paths: Iterable[str]) -> dict[str, str]:
    """Debian package (with version) owning each path."""
    wanted = list(paths)
    if not wanted:
        return {}
    # One query for all paths; paths no package owns are reported on stderr and skipped.
    result = subprocess.run(["dpkg-query", "-S", *wanted], capture_output=True, text=True)
    names: set[str] = set()
    for line in result.stdout.splitlines():
        if ": " in line and not line.startswith("diversion "):
            names.update(name.strip() for name in line.split(": ", 1)[0].split(","))
    if not names:
        return {}
    versions = run(["dpkg-query", "-W", "-f=${Package}:${Architecture} ${Version}\\n", *names])
    owners = {}
    for line in versions.splitlines():
        package, _, version = line.partition(" ")
        name, _, arch = package.partition(":")
        # Multi-arch packages are named with their architecture, as dpkg-query -S names them.
        owners[package if package in names else name] = version
    return dict(sorted(owners.items()))


def _compiler(compiler: str) -> str:
    version = run([compiler, "-dumpfullversion"]).strip()
    path = run(["sh", "-c", f'readlink -f "$(command -v {compiler})"']).strip()
    package = _packages([path])
    owner = ", ".join(f"{name} {version}" for name, version in package.items())
    return f"{compiler} {version}" + (f" ({owner})" if owner else "")


def build(target: Target) -> dict[str, object]:
    """The table of ``target``, with where it came from."""
    table = numbers(target)
    added: list[int] = table.pop("syscalls_added")  # type: ignore[assignment]
    last = table["syscalls_from_headers_up_to"]
    includes = ["asm/unistd.h", "asm/errno.h", "asm/signal.h", "asm/fcntl.h", "sys/socket.h"]
    packages = _packages(_headers(target.compiler, includes))
    compiler = _compiler(target.compiler)
    packages_text = ", ".join(f"{name} {version}" for name, version in packages.items())
    source = (
        f"{compiler} -E -dM of asm/unistd.h, asm/errno.h, asm/signal.h, asm/fcntl.h and "
        f"sys/socket.h from {packages_text}; syscalls {_ranges(added)} (newer than these "
        f"headers, which end at {last}) from {LATER_SOURCE}; errno 512 and up from the "
        "kernel's include/linux/errno.h"
    )
    if target.same_as:
        source += f"; identical with {', '.join(target.same_as)}"
    head: dict[str, object] = {
        "abi": target.abi,
        "description": target.description,
        "source": source,
        "compiler": compiler,
        "packages": packages,
    }
    syscalls = table.pop("syscalls")
    return {**head, **table, "syscalls_added": added, "syscalls": syscalls}


def numbers(target: Target) -> dict[str, object]:
    """Everything of the table but where it came from (what the decoding depends on)."""
    table = _decode(target.compiler)
    for other in target.same_as:
        if _decode(other) != table:
            raise SystemExit(f"{other} gives other tables than {target.compiler}")
    found: dict[int, str] = table["syscalls"]  # type: ignore[assignment]
    last = max(n for n in found if n < 0xF0000)
    later = {nr + target.later_offset: name for nr, name in LATER_SYSCALLS.items()}
    later.update(target.later_only)
    added = {nr: name for nr, name in later.items() if nr not in found}
    clash = {nr for nr, name in later.items() if nr in found and found[nr] != name}
    if clash:
        raise SystemExit(f"{target.abi}: later syscalls clash with the headers at {clash}")
    errno: dict[int, str] = dict(table["errno"])  # type: ignore[call-overload]
    errno.update(KERNEL_ERRNO)
    return {
        "syscall_base": table["syscall_base"],
        "signal_rt": table["signal_rt"],
        "open_flags": table["open_flags"],
        "socket_types": _keyed(table["socket_types"]),  # type: ignore[arg-type]
        "signals": _keyed(table["signals"]),  # type: ignore[arg-type]
        "errno": _keyed(errno),
        "syscalls_from_headers_up_to": last,
        "syscalls_added": sorted(added),
        "syscalls": _keyed({**found, **added}),
    }


def _decode(compiler: str) -> dict[str, object]:
    numbers, base = syscalls(compiler)
    signals, rtmin, rtmax = signal_names(compiler)
    return {
        "syscalls": numbers,
        "syscall_base": base,
        "errno": errno_names(compiler),
        "signals": signals,
        "signal_rt": {"min": rtmin, "max": rtmax},
        "open_flags": open_flags(compiler),
        "socket_types": socket_types(compiler),
    }


def _ranges(numbers: Iterable[int]) -> str:
    """``335, 336, 451-469``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _keyed(mapping: dict[int, str]) -> dict[str, str]:
    return {str(k): v for k, v in sorted(mapping.items())}


def render(table: dict[str, object]) -> str:
    return json.dumps(table, indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    status = 0
    for target in TARGETS:
        text = render(build(target))
        path = args.out / f"{target.abi}.json"
        if args.check:
            current = path.read_text() if path.exists() else ""
            if current != text:
                print(f"{path}: differs from the generated table", file=sys.stderr)
                status = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
