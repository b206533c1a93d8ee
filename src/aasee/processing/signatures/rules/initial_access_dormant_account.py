"""Valid local accounts: a locked, expired or system account made usable for logging in, or
an account the sample made used with su."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

SYSTEM_ACCOUNTS = frozenset(
    {"nobody", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
     "proxy", "www-data", "backup", "list", "irc", "gnats", "_apt", "messagebus", "sshd",
     "systemd-network", "systemd-resolve", "systemd-timesync", "postgres", "mysql", "ftp",
     "nginx", "apache", "tomcat", "redis", "ntp", "operator", "halt", "shutdown"}
)  # fmt: skip
LOGIN_SHELLS = ("/bin/sh", "/bin/bash", "/bin/dash", "/bin/zsh", "/usr/bin/bash",
                "/usr/bin/sh", "/usr/bin/zsh", "/bin/ksh")  # fmt: skip
NEVER_EXPIRES = frozenset({"", "-1", "99999", "never"})
SU_VALUED = frozenset({"-c", "--command", "-s", "--shell", "-g", "--group", "-G",
                       "--supp-group", "-w", "--whitelist-environment"})  # fmt: skip
ACCOUNT_VALUED = frozenset({"-c", "-d", "-e", "-f", "-g", "-G", "-k", "-K", "-p", "-s", "-u",
                            "-R", "-P", "-Z", "-b", "--comment", "--home", "--home-dir",
                            "--expiredate", "--inactive", "--gid", "--groups", "--shell",
                            "--uid", "--password", "--root", "--prefix"})  # fmt: skip


class DormantAccountEnabled(Signature):
    id = "initial_access_dormant_account"
    name = "Enables a dormant or system account, or logs in as an account it made"
    description = (
        "Unlocks an account or lifts its expiry (usermod -U/-e, passwd -u/-d, chage -E -1), "
        "gives a system account (nobody, daemon, www-data...) a login shell or a password, or "
        "switches with su to a system account or to an account the sample created: a valid "
        "local account that logs in without raising an alarm."
    )
    severity = "medium"
    category = "initial-access"
    techniques = ("T1078.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        created: set[str] = set()
        for run in ctx.commands("useradd", "adduser"):
            words = operands(run.item, ACCOUNT_VALUED)
            if words:
                created.add(words[-1] if run.item.name == "useradd" else words[0])
        for run in ctx.commands("usermod"):
            command = run.item
            account = (operands(command, ACCOUNT_VALUED) or [""])[-1]
            expiry = option_value(command, "-e", "--expiredate")
            shell = option_value(command, "-s", "--shell")
            unlock = bool({"-U", "--unlock"} & set(command.args))
            system = account in SYSTEM_ACCOUNTS
            if (
                unlock
                or (expiry is not None and expiry in NEVER_EXPIRES)
                or (system and shell in LOGIN_SHELLS)
                or (system and option_value(command, "-p", "--password"))
            ):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("passwd"):
            if {"-u", "--unlock", "-d", "--delete"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chage"):
            if option_value(run.item, "-E", "--expiredate") in NEVER_EXPIRES:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chsh"):
            account = (operands(run.item, frozenset({"-s", "--shell", "-R", "--root"})) or [""])[-1]
            if (
                account in SYSTEM_ACCOUNTS
                and option_value(run.item, "-s", "--shell") in LOGIN_SHELLS
            ):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("su", "runuser"):
            words = [w for w in operands(run.item, SU_VALUED) if w != "-"]
            if words and (words[0] in SYSTEM_ACCOUNTS or words[0] in created):
                yield run.evidence(command_summary(run))
