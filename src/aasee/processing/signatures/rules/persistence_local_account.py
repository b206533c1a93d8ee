"""Account creation or change: the account databases written, or useradd/usermod/passwd run."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
ACCOUNT_TOOLS = ("useradd", "adduser", "usermod", "chpasswd", "groupadd", "gpasswd", "newusers")


class LocalAccount(Signature):
    id = "persistence_local_account"
    name = "Creates or changes a local account"
    description = (
        "Writes /etc/passwd, /etc/shadow or /etc/group, or runs useradd, usermod, chpasswd "
        "or passwd: an account or password the attacker controls. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1136.001", "T1098")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(ACCOUNT_FILES):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands(*ACCOUNT_TOOLS):
            if not ctx.installing(run.process):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("passwd"):
            if not {"-S", "--status"} & set(run.item.args):
                yield run.evidence(command_summary(run))
