"""The registry of sandbox kinds: how an analysis gets its context, found by name.

A sandbox kind (``qemu``, ``lxc``, ``virtualbox``: one module each) turns a request
(guest, VM shape, revert policy) into the boot plans to try in order, each a context factory:
the QEMU kind restores a ready snapshot when one fits and cold-boots otherwise. The analysis
driver asks ``get_sandbox(name).plan(request)`` and never looks at context classes.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from aasee.contexts.qemu_config import ContextError, QemuConfig
from aasee.core import ContextFactory

__all__ = [
    "DEFAULT_SANDBOX",
    "BootPlan",
    "Sandbox",
    "SandboxRequest",
    "get_sandbox",
    "register_sandbox",
    "sandbox_names",
    "usable_sandboxes",
]

DEFAULT_SANDBOX = "qemu"
# Modules defining the bundled sandbox kinds; importing one registers it.
_BUNDLED = (
    "aasee.contexts.qemu_sandbox",
    "aasee.contexts.vbox_sandbox",
    "aasee.contexts.lxc_sandbox",
)


@dataclass(frozen=True)
class SandboxRequest:
    """What an analysis asks of a sandbox kind."""

    config: QemuConfig
    image_key: str
    """The guest image build (ready snapshots are keyed by it)."""
    revert: str = "auto"
    """auto: restore a ready snapshot if one fits; snapshot: only that; cold: always boot."""
    snapshot_root: Path | None = None


@dataclass(frozen=True)
class BootPlan:
    """One way to bring the sandbox up; if it fails to reach a ready agent, the next is tried."""

    description: str
    factory: ContextFactory
    restoring: bool = False
    prepared: bool = False
    """The VM exists already (a warm one): the host's budget admitted it when it was made."""


class Sandbox(ABC):
    """A kind of sandbox: its name, what isolates it, and how to bring one up."""

    name: ClassVar[str]
    isolation: ClassVar[str]
    """What separates the sample from the host, in a sentence for the report and README."""
    hypervisor: ClassVar[str] = "qemu"
    """What runs the guest, as the report names it."""

    @abstractmethod
    def plan(self, request: SandboxRequest) -> list[BootPlan]:
        """The boot plans to try, best first; ContextError when none can be made."""

    def unavailable(self) -> str | None:
        """Why this host cannot run this kind, or None if it can. A cheap check (programs and
        drivers present, privileges), never a trial run: sandbox workers call it at start to
        say which kinds they take tasks for."""
        return None


_REGISTRY: dict[str, Sandbox] = {}


def register_sandbox(sandbox: Sandbox) -> Sandbox:
    _REGISTRY[sandbox.name] = sandbox
    return sandbox


def _load_bundled() -> None:
    for module in _BUNDLED:
        importlib.import_module(module)


def get_sandbox(name: str) -> Sandbox:
    _load_bundled()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ContextError(
            f"unknown sandbox {name!r} (available: {', '.join(sandbox_names())})"
        ) from None


def sandbox_names() -> list[str]:
    _load_bundled()
    return sorted(_REGISTRY)


def usable_sandboxes() -> dict[str, str | None]:
    """Every registered kind and why this host cannot run it (None: it can)."""
    _load_bundled()
    return {name: _REGISTRY[name].unavailable() for name in sorted(_REGISTRY)}
