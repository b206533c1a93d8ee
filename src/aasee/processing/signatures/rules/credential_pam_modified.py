"""Pluggable authentication modules tampered with: PAM configuration or module files
written outside the tools that manage them."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

PAM_FILES = ("/etc/pam.d/*", "/etc/pam.conf", "/lib/security/*", "/lib64/security/*",
             "/lib/*/security/*", "/usr/lib/security/*", "/usr/lib64/security/*",
             "/usr/lib/*/security/*", "/usr/lib/pam/*", "/etc/security/pam_*.conf")  # fmt: skip
MANAGERS = frozenset({"pam-auth-update", "authselect", "authconfig", "pam-config",
                      "dpkg", "rpm"})  # fmt: skip


class PamModified(Signature):
    id = "credential_pam_modified"
    name = "Modifies the authentication modules (PAM)"
    description = (
        "Writes a PAM configuration file (/etc/pam.d: su, sshd, common-auth...) or a PAM "
        "module (security/pam_*.so) outside package installations and the PAM management "
        "tools: a rule that lets any password in (pam_succeed_if uid >= 0 sufficient), a "
        "module that logs every password typed, or a backdoor login."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1556.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(PAM_FILES):
            managed = any(ctx.names(p.key) & MANAGERS for p in ctx.lineage(found.process))
            if not managed and not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
