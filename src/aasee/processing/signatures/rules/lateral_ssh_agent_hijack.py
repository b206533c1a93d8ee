"""SSH agent hijacking: another user's (or session's) ssh-agent socket used."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

AGENT_SOCKETS = ("/tmp/ssh-*/agent.*", "/run/user/*/keyring/ssh",
                 "/run/user/*/gnupg/S.gpg-agent.ssh")  # fmt: skip
NAME_OPTIONS = frozenset({"-name", "-iname", "-path", "-ipath"})


class SshAgentHijack(Signature):
    id = "lateral_ssh_agent_hijack"
    name = "Uses another session's SSH agent"
    description = (
        "Connects to an ssh-agent socket it did not create (/tmp/ssh-*/agent.*), sets "
        "SSH_AUTH_SOCK to one, or searches for agent sockets: the keys loaded in someone "
        "else's agent log into other hosts without being stolen."
    )
    severity = "high"
    category = "lateral-movement"
    techniques = ("T1563.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        own_dirs = {m.item.path for m in ctx.all_files("mkdir")}
        for found in ctx.unix_sockets(AGENT_SOCKETS):
            if posixpath.dirname(found.item.path) not in own_dirs:
                yield found.evidence(f"connected to {found.item.path}")
        for run in ctx.shell_commands():
            command = run.item
            declaring = command.name in ("", "export", "env", "declare")
            words = (*command.env, *command.args) if declaring else command.env
            if any(w.startswith("SSH_AUTH_SOCK=/tmp/ssh-") for w in words):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("find"):
            args = run.item.args
            patterns = [b for a, b in zip(args, args[1:], strict=False) if a in NAME_OPTIONS]
            if any("agent" in p and ("ssh" in p or p.startswith("agent")) for p in patterns):
                yield run.evidence(command_summary(run))
