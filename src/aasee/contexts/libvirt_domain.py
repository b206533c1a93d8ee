"""The part of a libvirt context's lifecycle that is its domain's own, shared by the QEMU and
LXC contexts: the running domain, pause and resume, whether it runs, and powering it off."""

from __future__ import annotations

import libvirt

from aasee.contexts.libvirt_connection import destroy_domain, domain_active
from aasee.contexts.qemu_config import ContextError

__all__ = ["DomainLifecycle"]


class DomainLifecycle:
    """Mixed into a context that keeps its running domain in ``_domain``; ``what`` names the
    machine in errors ("VM", "container")."""

    what = "VM"
    _domain: libvirt.virDomain | None = None

    @property
    def domain(self) -> libvirt.virDomain:
        if self._domain is None:
            raise ContextError(f"the {self.what} is not running")
        return self._domain

    def _pause(self) -> None:
        self.domain.suspend()

    def _resume(self) -> None:
        self.domain.resume()

    def is_running(self) -> bool:
        return domain_active(self._domain)

    def _destroy(self) -> None:
        refused = destroy_domain(self._domain)
        if refused is not None:
            raise ContextError(f"cannot destroy the {self.what}: {refused}") from refused
        self._domain = None
