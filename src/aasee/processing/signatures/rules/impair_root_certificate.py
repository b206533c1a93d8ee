"""A root certificate installed into the system's trust store."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

TRUST_STORE = (
    "/usr/local/share/ca-certificates/**", "/usr/share/ca-certificates/**",
    "/etc/pki/ca-trust/source/**", "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt", "/etc/ca-certificates.conf",
    "/usr/share/pki/trust/anchors/**", "/etc/pki/trust/anchors/**",
)  # fmt: skip
# update-ca-certificates rebuilds the bundle from the store: its writes are the tool's job.
REBUILDERS = frozenset({"update-ca-certificates", "update-ca-trust", "p11-kit", "trust",
                        "run-parts", "c_rehash", "openssl"})  # fmt: skip


class RootCertificate(Signature):
    id = "impair_root_certificate"
    name = "Installs a root certificate"
    description = (
        "Writes a certificate into the system trust store (/usr/local/share/ca-certificates, "
        "/etc/pki/ca-trust/source/anchors...) or the CA bundle, or runs update-ca-"
        "certificates, update-ca-trust or trust anchor: TLS connections to servers the "
        "attacker certifies (a proxy, a fake update site) are then trusted. Package "
        "installations are not counted."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1553.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(TRUST_STORE):
            if ctx.installing(found.process):
                continue
            if not ctx.names(found.process) & REBUILDERS:
                yield found.evidence(file_summary(found))
        for run in ctx.commands("update-ca-certificates", "update-ca-trust"):
            if not {"-h", "--help"} & set(run.item.args) and not ctx.installing(run.process):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("trust"):
            args = run.item.args
            if args[:1] == ("anchor",) and "--remove" not in args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("certutil"):
            if "-A" in run.item.args:
                yield run.evidence(command_summary(run))
