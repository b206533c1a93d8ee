"""XDG autostart entries: a .desktop file the desktop session starts at login."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

AUTOSTART = ("/etc/xdg/autostart/*", "/root/.config/autostart/*", "/home/*/.config/autostart/*")


class XdgAutostart(Signature):
    id = "persistence_xdg_autostart"
    name = "Adds an XDG autostart entry"
    description = (
        "Writes a .desktop file into /etc/xdg/autostart or ~/.config/autostart: desktop "
        "sessions (GNOME, KDE, Xfce...) start the program it names at every login. Package "
        "installations are not counted."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1547.013",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(AUTOSTART):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
