"""Password cracking: hash crackers run on the host."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

CRACKERS = ("john", "john-the-ripper", "hashcat", "unshadow", "unafs", "unique", "ophcrack",
            "rcracki_mt", "fcrackzip", "pdfcrack", "rarcrack", "zip2john", "ssh2john",
            "keepass2john", "gpg2john")  # fmt: skip
NOT_CRACKING = frozenset({"--help", "-h", "--version", "-V", "--list=formats", "-I"})


class PasswordCracking(Signature):
    id = "credential_password_cracking"
    name = "Cracks password hashes"
    description = (
        "Runs John the Ripper, hashcat, unshadow (which merges /etc/passwd and /etc/shadow "
        "for cracking) or another cracker: password hashes turned back into passwords."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1110.002",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*CRACKERS):
            if run.item.args and not NOT_CRACKING & set(run.item.args):
                yield run.evidence(command_summary(run))
