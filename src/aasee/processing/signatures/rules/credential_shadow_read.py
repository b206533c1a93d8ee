"""Password hashes read: /etc/shadow and its siblings opened by something other than the
programs whose job that is."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, file_summary
from ..models import Evidence
from ..query import ReportIndex

SHADOW = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd")
ENTITLED = frozenset(
    {"unix_chkpwd", "sudo", "su", "passwd", "chage", "login", "sshd", "useradd", "usermod",
     "chpasswd", "pwck", "grpck", "vipw", "newusers", "userdel", "gpasswd", "pwconv",
     "pwunconv", "grpconv", "grpunconv", "chsh", "chfn", "expiry", "newgrp", "sg",
     "update-passwd", "vigr", "cron", "systemd-sysusers", "groupadd", "groupdel", "groupmod",
     "adduser", "deluser", "addgroup", "delgroup", "cpgr", "cppw"}
)  # fmt: skip


class ShadowRead(Signature):
    id = "credential_shadow_read"
    name = "Reads the password hash database"
    description = (
        "Opens /etc/shadow (or gshadow, opasswd) to read it, outside the programs that need "
        "it (su, sudo, passwd...): password hashes to crack offline. Failed attempts count."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1003.008",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", SHADOW):
            if basename(ctx.image_of(found.process)) not in ENTITLED:
                yield found.evidence(file_summary(found, "read"))
