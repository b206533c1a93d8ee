"""Dynamic-linker persistence: /etc/ld.so.preload or the linker's search path changed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

LINKER_PATHS = ("/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d/*")


class LdSoPreloadPersistence(Signature):
    id = "persistence_ld_so_preload"
    name = "Changes what the dynamic linker loads into every program"
    description = (
        "Writes /etc/ld.so.preload (a library loaded into every dynamically linked program, "
        "the usual userland rootkit) or the linker's search path configuration."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1574.006",)
    families = ("rootkit",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(LINKER_PATHS):
            yield found.evidence(file_summary(found))
