"""Account manipulation: a user added to an administrative group (sudo, wheel, root, docker,
lxd, disk...)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

ADMIN_GROUPS = frozenset(
    {"sudo", "wheel", "root", "admin", "adm", "docker", "lxd", "lxc", "disk", "shadow",
     "libvirt", "kvm", "staff", "sys", "video", "systemd-journal"}
)  # fmt: skip
USERMOD_VALUED = frozenset({"-c", "-d", "-e", "-f", "-g", "-G", "-l", "-p", "-s", "-u", "-R",
                            "-P", "-Z", "--comment", "--home", "--expiredate", "--inactive",
                            "--gid", "--groups", "--login", "--password", "--shell", "--uid",
                            "--root", "--prefix", "--selinux-user"})  # fmt: skip


def _groups(value: str | None) -> set[str]:
    return {g.strip() for g in (value or "").split(",") if g.strip()}


class AdminGroupAdded(Signature):
    id = "persistence_account_admin_group"
    name = "Adds an account to an administrative group"
    description = (
        "Runs usermod -aG/-G, gpasswd -a, adduser USER GROUP or useradd -G with a group that "
        "grants administrative power (sudo, wheel, root, adm, docker, lxd, disk, shadow...): "
        "an account the attacker controls gains root, or a way to it."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1098.007",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("usermod", "useradd"):
            groups = _groups(option_value(run.item, "-G", "--groups"))
            groups |= _groups(option_value(run.item, "-g", "--gid"))
            if groups & ADMIN_GROUPS:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("gpasswd"):
            args = run.item.args
            if {"-a", "--add", "-M", "--members"} & set(args) and set(args) & ADMIN_GROUPS:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("adduser", "addgroup"):
            words = operands(
                run.item,
                frozenset(
                    {"--gid", "--uid", "--home", "--shell", "--gecos", "--ingroup", "--conf"}
                ),
            )
            if len(words) == 2 and words[1] in ADMIN_GROUPS:
                yield run.evidence(command_summary(run))
