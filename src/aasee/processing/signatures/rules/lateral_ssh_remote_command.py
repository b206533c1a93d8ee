"""SSH used to run commands on other hosts non-interactively: a remote command, host key
checks off, batch mode, sshpass, parallel SSH."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

SSH_VALUED = frozenset({"-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m",
                        "-O", "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"})  # fmt: skip
UNATTENDED = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "BatchMode=yes",
              "StrictHostKeyChecking=accept-new")  # fmt: skip
PARALLEL = ("pssh", "parallel-ssh", "pdsh", "clush", "sshpass")


class SshRemoteCommand(Signature):
    id = "lateral_ssh_remote_command"
    name = "Runs commands on other hosts over SSH"
    description = (
        "Runs ssh with a command for the remote host, or with host key checking turned off "
        "or batch mode (no prompt will stop it), or sshpass (a password given on the command "
        "line) or a parallel SSH tool: code run on the next host with credentials found "
        "here."
    )
    severity = "medium"
    category = "lateral-movement"
    techniques = ("T1021.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("ssh", "dbclient"):
            args = run.item.args
            words = operands(run.item, SSH_VALUED)
            unattended = any(u in a for a in args for u in UNATTENDED)
            checking = {"-V", "-G", "-Q"} & set(args)
            if not checking and (len(words) >= 2 or unattended):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*PARALLEL):
            if run.item.args and not {"-h", "--help", "-V"} & set(run.item.args):
                yield run.evidence(command_summary(run))
