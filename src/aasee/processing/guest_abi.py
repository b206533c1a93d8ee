"""How the numbers in one guest's trace are decoded: its architecture and syscall ABIs.

Owns :class:`GuestAbi` (the run's architecture profile: byte order, native ABI, the other ABIs
its processes may switch to) and :class:`AbiNumbers` (one ABI's tables plus the syscall
numbers the behaviour model follows: close, dup, socket, clone...). A process starts with its
parent's ABI (the guest's native one for the sample) and takes the ABI an ``argv__<abi>``
event names when it execs (an i386 program on the x86-64 guest uses the i386 syscall table
from then on).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from aasee.arch import DEFAULT_ARCH, SyscallAbi, UnknownArchitecture, get_abi, get_profile

__all__ = ["AbiNumbers", "GuestAbi", "guest_abi", "native_abi", "resolve_arch"]


@dataclass(frozen=True, eq=False)
class AbiNumbers:
    """One syscall ABI: its decoding tables and the numbers of the syscalls the model follows.

    Each attribute is the set of numbers (empty where the ABI lacks the call: arm64 has no
    ``open`` nor ``dup2``; i386 reaches ``accept`` only through ``socketcall``).
    """

    abi: SyscallAbi
    close: frozenset[int]
    dup: frozenset[int]
    fcntl: frozenset[int]
    socket: frozenset[int]
    accept: frozenset[int]
    connect_bind: frozenset[int]
    clone: frozenset[int]
    execve: int | None
    chdir: frozenset[int]
    fchdir: frozenset[int]
    opens: frozenset[int]
    args_needed: frozenset[int]
    """Calls whose arguments the model reads (the others' are not even split)."""
    effects: frozenset[int]
    """Calls whose result changes the descriptor table or the working directory."""

    @property
    def name(self) -> str:
        return self.abi.name

    @classmethod
    def of(cls, abi: SyscallAbi) -> AbiNumbers:
        n = abi.syscall_numbers
        close = n("close")
        dup = n("dup", "dup2", "dup3")
        fcntl = n("fcntl", "fcntl64")
        socket = n("socket")
        accept = n("accept", "accept4")
        connect_bind = n("connect", "bind")
        clone = n("clone")
        fchdir = n("fchdir")
        opens = n("open", "creat", "openat", "openat2")
        effects = opens | close | dup | fcntl | socket | accept | fchdir
        return cls(
            abi=abi,
            close=close,
            dup=dup,
            fcntl=fcntl,
            socket=socket,
            accept=accept,
            connect_bind=connect_bind,
            clone=clone,
            execve=abi.syscall_number("execve"),
            chdir=n("chdir"),
            fchdir=fchdir,
            opens=opens,
            args_needed=close | dup | fcntl | socket | accept | connect_bind | clone | fchdir,
            effects=effects,
        )


@dataclass(frozen=True, eq=False)
class GuestAbi:
    """The architecture a trace came from, as far as decoding it is concerned."""

    arch: str
    """Name of the architecture profile (``x86_64``, ``mips``...)."""
    endian: Literal["little", "big"]
    """Byte order of the guest: the probes read multi-byte kernel values in it."""
    native: AbiNumbers
    abis: dict[str, AbiNumbers]
    """Every ABI the guest's processes may use, by name (the native one included)."""

    def variant(self, suffix: str | None) -> AbiNumbers:
        """The ABI an ``argv`` event with this suffix (``argv__i386``) puts a process in.

        No suffix, or one that names no ABI of this guest (a second probe of the same ABI),
        means the native ABI.
        """
        if suffix is None:
            return self.native
        return self.abis.get(suffix, self.native)


@cache
def guest_abi(arch: str = DEFAULT_ARCH) -> GuestAbi:
    """The decoding of traces from guests of architecture ``arch`` (a profile name or alias).

    Raises :class:`aasee.arch.UnknownArchitecture` for a name no profile has.
    """
    profile = get_profile(arch)
    abis = {name: AbiNumbers.of(get_abi(name)) for name in profile.syscall_abis}
    return GuestAbi(
        arch=profile.name,
        endian=profile.endian,
        native=abis[profile.native_abi],
        abis=abis,
    )


def resolve_arch(arch: str | None) -> tuple[GuestAbi, str | None]:
    """The decoding for ``arch`` and, if it names no profile, why the default is used."""
    try:
        return guest_abi(arch or DEFAULT_ARCH), None
    except UnknownArchitecture as exc:
        return guest_abi(DEFAULT_ARCH), f"{exc}: the trace is decoded as {DEFAULT_ARCH}"


def native_abi(arch: str) -> str | None:
    """The native syscall ABI of the architecture a report names, None if it names none."""
    try:
        return get_profile(arch).native_abi
    except UnknownArchitecture:
        return None
