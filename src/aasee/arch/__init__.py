"""Guest architectures: one profile module per architecture, found by looking, not listed.

``get_profile("arm64")`` resolves a name or alias; ``profiles()`` lists them all;
``route_elf(head)`` says which profile runs an ELF file (or why none does). A new
architecture is one new module in this package defining ``PROFILE`` (plus its syscall table
in ``tables/``); nothing else in AASEE names an architecture.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from aasee.arch.abi import SyscallAbi, get_abi
from aasee.arch.elf_header import ElfIdentity, identify
from aasee.arch.profile import ArchProfile, ElfMatch

__all__ = [
    "DEFAULT_ARCH",
    "ArchProfile",
    "ElfIdentity",
    "Route",
    "SyscallAbi",
    "UnknownArchitecture",
    "get_abi",
    "get_profile",
    "host_arch",
    "identify",
    "profiles",
    "route_elf",
]

DEFAULT_ARCH = "x86_64"
"""The guest scripts and non-ELF samples go to."""


class UnknownArchitecture(KeyError):
    """No profile has this name or alias."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown architecture"


@cache
def _load() -> dict[str, ArchProfile]:
    found: dict[str, ArchProfile] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in ("abi", "elf_header", "profile"):
            continue
        profile = getattr(importlib.import_module(f"{__name__}.{module.name}"), "PROFILE", None)
        if isinstance(profile, ArchProfile):
            found[profile.name] = profile
    return dict(sorted(found.items()))


def profiles() -> list[ArchProfile]:
    """Every architecture AASEE knows, by name."""
    return list(_load().values())


def get_profile(name: str) -> ArchProfile:
    """The profile named ``name`` (or having it as an alias); UnknownArchitecture if none."""
    wanted = name.strip().lower()
    for profile in _load().values():
        if wanted in profile.names():
            return profile
    known = ", ".join(p.name for p in profiles())
    raise UnknownArchitecture(f"unknown architecture {name!r} (known: {known})")


def host_arch() -> str:
    """The host's machine name as ``uname -m`` prints it."""
    import os

    return os.uname().machine


@dataclass(frozen=True)
class Route:
    """Where a sample goes: its ELF facts, the profile that runs it, or why none can."""

    identity: ElfIdentity | None
    profile: ArchProfile | None
    match: ElfMatch | None
    reason: str | None

    @property
    def is_elf(self) -> bool:
        return self.identity is not None

    @property
    def label(self) -> str:
        """The sample's architecture as told to users (``i386``, ``MIPS 32-bit big-endian``)."""
        if self.identity is None:
            return "script or data (no ELF header)"
        return self.identity.describe()


def route_elf(head: bytes) -> Route:
    """Which architecture profile runs the file starting with ``head``.

    Not an ELF file: ``Route(None, None, None, None)`` (scripts go to the default guest).
    An ELF file no profile runs: ``profile`` None and ``reason`` saying why.
    """
    identity = identify(head)
    if identity is None:
        return Route(None, None, None, None)
    mismatch: str | None = None
    for profile in profiles():
        for match in profile.elf:
            if (match.machine, match.bits, match.endian) != (
                identity.machine,
                identity.bits,
                identity.endian,
            ):
                continue
            problem = match.accepts(identity.flags) if match.accepts else None
            if problem is None:
                return Route(identity, profile, match, None)
            mismatch = problem
    reason = mismatch or f"no guest architecture runs {identity.describe()} programs"
    return Route(identity, None, None, reason)
