"""Logon scripts: programs run when someone logs in (message-of-the-day scripts, the SSH rc
files, X session scripts)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

LOGIN_SCRIPTS = (
    "/etc/update-motd.d/*", "/etc/ssh/sshrc", "/root/.ssh/rc", "/home/*/.ssh/rc",
    "/etc/X11/Xsession.d/*", "/etc/X11/xinit/xinitrc.d/*", "/etc/gdm3/PostLogin/*",
    "/etc/gdm3/PreSession/*", "/etc/gdm3/PostSession/*", "/etc/lightdm/lightdm.conf.d/*",
    "/root/.xinitrc", "/home/*/.xinitrc", "/root/.xsession", "/home/*/.xsession",
    "/root/.xprofile", "/home/*/.xprofile", "/root/.xsessionrc", "/home/*/.xsessionrc",
)  # fmt: skip


class LoginScripts(Signature):
    id = "persistence_login_scripts"
    name = "Installs a logon script"
    description = (
        "Writes a message-of-the-day script (/etc/update-motd.d, run as root at every SSH "
        "login), an SSH rc file (~/.ssh/rc, /etc/ssh/sshrc), or an X session script: code "
        "that runs whenever someone logs in. Package installations are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1037",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(LOGIN_SCRIPTS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
