"""Account access removed: accounts deleted, locked, expired, given no shell, or their
passwords changed (accounts the sample made itself excepted)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands, option_value
from ..models import Evidence
from ..query import ReportIndex

VALUED = frozenset({"-c", "-d", "-e", "-f", "-g", "-G", "-k", "-K", "-p", "-s", "-u", "-R",
                    "-P", "-Z", "-b", "-l", "--comment", "--home", "--expiredate", "--inactive",
                    "--gid", "--groups", "--shell", "--uid", "--password", "--root", "--login",
                    "--prefix"})  # fmt: skip
NO_LOGIN = ("/sbin/nologin", "/usr/sbin/nologin", "/bin/false", "/usr/bin/false")
CHPASSWD_LINE = re.compile(r"^([a-z_][a-z0-9_.-]*):")


class AccountAccessRemoval(Signature):
    id = "impact_account_access_removal"
    name = "Removes users' access to their accounts"
    description = (
        "Deletes an account (userdel, deluser), locks or expires one (passwd -l, usermod -L, "
        "usermod -e 1, chage -E 0), takes its shell away (nologin, false), or changes the "
        "password of an account the sample did not create (passwd USER, chpasswd, usermod "
        "-p): owners and administrators locked out."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1531",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        created: set[str] = set()
        for run in ctx.commands("useradd", "adduser"):
            words = operands(run.item, VALUED)
            if words:
                created.add(words[-1] if run.item.name == "useradd" else words[0])
        for run in ctx.commands("userdel", "deluser"):
            words = operands(run.item, VALUED)
            if words and words[0] not in created:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("usermod"):
            command = run.item
            account = (operands(command, VALUED) or [""])[-1]
            if account in created:
                continue
            locking = bool({"-L", "--lock"} & set(command.args))
            expiry = option_value(command, "-e", "--expiredate")
            shell = option_value(command, "-s", "--shell")
            password = option_value(command, "-p", "--password")
            expired = expiry is not None and expiry not in ("", "-1", "99999")
            if locking or expired or shell in NO_LOGIN or password:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("passwd"):
            args = run.item.args
            accounts = operands(run.item, frozenset({"-n", "-x", "-w", "-i", "-r", "-R"}))
            locking = bool({"-l", "--lock", "-e", "--expire"} & set(args))
            other = bool(accounts) and accounts[0] not in created and not args[:1] == ("-S",)
            if locking or (other and not {"-S", "--status", "-u", "--unlock"} & set(args)):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chage"):
            if option_value(run.item, "-E", "--expiredate") == "0":
                yield run.evidence(command_summary(run))
        for run in ctx.commands("chsh"):
            if option_value(run.item, "-s", "--shell") in NO_LOGIN:
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands("echo", "printf"):
            feeds_chpasswd = any(
                c.item.name == "chpasswd" and c.item.pipeline == run.item.pipeline
                and c.ref == run.ref for c in ctx.shell_commands("chpasswd")
            )  # fmt: skip
            if not feeds_chpasswd:
                continue
            users = {m.group(1) for a in run.item.args if (m := CHPASSWD_LINE.match(a))}
            if users - created:
                yield run.evidence(command_summary(run) + " | chpasswd")
