"""Init-script persistence: rc.local, /etc/init.d, /etc/rc?.d written, or update-rc.d run."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

RC_PATHS = (
    "/etc/rc.local",
    "/etc/rc.d/**",
    "/etc/rc[0-6S].d/*",
    "/etc/init.d/*",
    "/etc/init/*.conf",
)
REMOVING = frozenset({"remove", "disable", "--del", "off", "--list", "stop"})


class RcScriptPersistence(Signature):
    id = "persistence_rc_scripts"
    name = "Installs an init or rc script"
    description = (
        "Writes /etc/rc.local, a script under /etc/init.d or a link under /etc/rc?.d, or "
        "registers one with update-rc.d or chkconfig: it will be run at boot. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1037.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(RC_PATHS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("update-rc.d", "chkconfig"):
            if (
                run.item.args
                and not REMOVING & set(run.item.args)
                and not ctx.installing(run.process)
            ):
                yield run.evidence(command_summary(run))
