"""Container secrets: Kubernetes service account tokens and mounted secrets read, secrets
listed through the Kubernetes or Docker API."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SECRET_FILES = ("/var/run/secrets/**", "/run/secrets/**",
                "/var/lib/kubelet/pods/*/volumes/kubernetes.io~secret/**",
                "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/**")  # fmt: skip
SECRET_WORDS = frozenset({"secret", "secrets", "secret/", "secrets/"})


class ContainerSecrets(Signature):
    id = "credential_container_secrets"
    name = "Reads container or cluster secrets"
    description = (
        "Reads a Kubernetes service account token or mounted secret (/var/run/secrets), the "
        "cluster's admin configuration or PKI, Docker secrets, or lists secrets with kubectl "
        "get/describe secret or docker secret: credentials to the cluster's API and to "
        "whatever its secrets unlock."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1552.007",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", SECRET_FILES):
            if not ctx.names(found.process) & {"kubelet", "containerd", "dockerd", "runc"}:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands("kubectl", "oc", "k3s"):
            args = run.item.args
            verbs = {"get", "describe", "edit", "view"} & set(args)
            if verbs and any(a.split("/", 1)[0] in SECRET_WORDS or a == "secret" for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("docker"):
            if run.item.args[:1] == ("secret",) and {"ls", "inspect"} & set(run.item.args):
                yield run.evidence(command_summary(run))
