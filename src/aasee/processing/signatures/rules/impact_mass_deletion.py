"""Data destroyed in bulk: many files deleted that the sample did not create itself."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, file_summary
from ..models import Evidence
from ..query import ReportIndex

MINIMUM = 100
SCRATCH = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/", "/proc/", "/sys/", "/dev/")
# Package managers remove the files of the packages they uninstall; caches are disposable.
INSTALLERS = frozenset({"dpkg", "apt", "apt-get", "rpm", "yum", "dnf", "pip", "pip3", "npm"})


class MassDeletion(Signature):
    id = "impact_mass_deletion"
    name = "Deletes many files"
    description = (
        f"Deletes {MINIMUM} or more different files that the analysis did not see it create, "
        "outside scratch space (/tmp, /run, /dev...) and caches: data destruction. A build "
        "cleaning up its own output, or a package manager removing a package, is not counted."
    )
    severity = "high"
    category = "impact"
    techniques = ("T1485",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        created = ctx.created_paths
        victims = [
            found
            for found in ctx.all_files("deleted")
            if found.item.op == "unlink"
            and found.item.ok is not False
            and found.item.path not in created
            and not found.item.path.startswith(SCRATCH)
            and "/.cache/" not in found.item.path
            and basename(ctx.image_of(found.process)) not in INSTALLERS
        ]
        if len({f.item.path for f in victims}) >= MINIMUM:
            for found in victims:
                yield found.evidence(file_summary(found, "deleted"))
