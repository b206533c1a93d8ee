"""Containers deployed or entered: docker/podman run and exec, kubectl run and exec, the
runtime's socket driven directly."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

CLIS = ("docker", "podman", "nerdctl", "crictl", "ctr", "kubectl", "oc", "k3s", "lxc", "runc")
ACTIONS = frozenset({"run", "exec", "create", "start", "attach", "debug", "cp", "apply",
                     "replace", "launch"})  # fmt: skip
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
           "/run/podman/podman.sock", "/var/run/containerd/containerd.sock")  # fmt: skip
CLIENTS = frozenset({"docker", "dockerd", "containerd", "podman", "nerdctl", "crictl", "ctr",
                     "kubelet", "runc", "containerd-shim", "containerd-shim-runc-v2"})  # fmt: skip


class ContainerAdministration(Signature):
    id = "execution_container_admin"
    name = "Deploys or enters containers"
    description = (
        "Runs docker/podman/nerdctl run, create or exec, kubectl run, exec, debug or apply, "
        "ctr or runc, or drives the container runtime's socket with another program (curl "
        "--unix-socket /var/run/docker.sock): code run in containers, where it may escape, "
        "mine or hide."
    )
    severity = "medium"
    category = "execution"
    techniques = ("T1609", "T1610")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*CLIS):
            words = [a for a in run.item.args if not a.startswith("-")]
            container = words[:1] == ["container"] or words[:1] == ["task"]
            verb = words[1:2] if container else words[:1]
            if verb and verb[0] in ACTIONS:
                yield run.evidence(command_summary(run))
        for found in ctx.unix_sockets(SOCKETS):
            if not ctx.names(found.process) & CLIENTS:
                yield found.evidence(f"connected to {found.item.path}")
