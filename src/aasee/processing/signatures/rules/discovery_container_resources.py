"""Container and cluster discovery: containers, images and cluster objects listed."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

CONTAINER_CLIS = ("docker", "podman", "nerdctl", "crictl", "ctr")
LISTING = frozenset({"ps", "images", "info", "inspect", "stats", "ls", "list", "top", "pods",
                     "version", "system", "network", "volume", "container", "image"})  # fmt: skip
KUBE_VERBS = frozenset({"get", "describe", "auth", "cluster-info", "top", "api-resources"})
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
           "/run/podman/podman.sock", "/var/run/crio/crio.sock", "/run/user/*/podman/podman.sock",
           "/var/run/containerd/containerd.sock")  # fmt: skip
CLIENTS = frozenset({"docker", "dockerd", "containerd", "podman", "nerdctl", "crictl", "ctr",
                     "kubelet", "runc", "containerd-shim", "containerd-shim-runc-v2"})  # fmt: skip


class ContainerResourceDiscovery(Signature):
    id = "discovery_container_resources"
    name = "Lists containers and cluster resources"
    description = (
        "Runs docker/podman/nerdctl/crictl ps, images, info or inspect, kubectl get, describe "
        "or auth can-i, or talks to the container runtime's socket with another program "
        "(curl --unix-socket /var/run/docker.sock): the containers, images and workloads "
        "around, and what the sample may do to them."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1613",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*CONTAINER_CLIS):
            words = [a for a in run.item.args if not a.startswith("-")]
            if words and words[0] in LISTING:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("kubectl", "oc", "k3s"):
            words = [a for a in run.item.args if not a.startswith("-")]
            secrets = any(w.startswith("secret") for w in words)
            if words and words[0] in KUBE_VERBS and not secrets:
                yield run.evidence(command_summary(run))
        for found in ctx.unix_sockets(SOCKETS):
            if not ctx.names(found.process) & CLIENTS:
                yield found.evidence(f"connected to {found.item.path}")
        for found in ctx.files("read", ("/var/lib/docker/containers/*/config.v2.json",)):
            if not ctx.names(found.process) & CLIENTS:
                yield found.evidence(file_summary(found, "read"))
