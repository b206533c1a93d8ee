"""Password policy discovered: login.defs, PAM password rules and pwquality read with a
text tool, chage -l."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

POLICY_FILES = ("/etc/login.defs", "/etc/pam.d/common-password", "/etc/pam.d/system-auth",
                "/etc/pam.d/password-auth", "/etc/security/pwquality.conf",
                "/etc/security/pwquality.conf.d/*", "/etc/security/faillock.conf",
                "/etc/security/pwhistory.conf", "/etc/default/useradd")  # fmt: skip


class PasswordPolicyDiscovery(Signature):
    id = "discovery_password_policy"
    name = "Reads the password policy"
    description = (
        "Reads /etc/login.defs, the PAM password rules (common-password, system-auth), "
        "pwquality or faillock settings with a text tool, or runs chage -l: how long and "
        "complex passwords must be and when accounts lock, to tune guessing. Programs that "
        "apply the policy (login, passwd, useradd) are not counted."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1201",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", POLICY_FILES):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands("chage"):
            if {"-l", "--list"} & set(run.item.args):
                yield run.evidence(command_summary(run))
