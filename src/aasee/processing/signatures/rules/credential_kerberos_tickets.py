"""Kerberos ticket caches and keytabs read by another program."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

CACHES = ("/tmp/krb5cc_*", "/var/lib/sss/db/ccache_*", "/etc/krb5.keytab", "/**/*.keytab",
          "/run/user/*/krb5cc/**")  # fmt: skip
KERBEROS = frozenset(
    {"kinit", "klist", "kdestroy", "kvno", "sssd", "sssd_be", "krb5_child", "gssproxy",
     "rpc.gssd", "sshd", "ssh", "k5start", "msktutil", "adcli", "net", "winbindd", "realm"}
)  # fmt: skip


class KerberosTickets(Signature):
    id = "credential_kerberos_tickets"
    name = "Reads Kerberos tickets or keytabs"
    description = (
        "A program other than the Kerberos tools and services opens a ticket cache "
        "(/tmp/krb5cc_*, SSSD's caches) or a keytab (/etc/krb5.keytab), or klist -K shows "
        "the keys: tickets and keys to pass to other hosts of the domain."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1558.005",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", CACHES):
            if not ctx.names(found.process) & KERBEROS:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands("klist"):
            if any(
                a.startswith("-") and not a.startswith("--") and "K" in a for a in run.item.args
            ):
                yield run.evidence(command_summary(run))
