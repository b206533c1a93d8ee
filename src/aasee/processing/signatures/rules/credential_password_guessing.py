"""Password guessing on the host or against services: su or sudo fed passwords again and
again, sshpass in a loop, brute-force tools."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

TOOLS = ("hydra", "medusa", "ncrack", "patator", "crowbar", "crackmapexec", "netexec", "nxc",
         "sucrack", "legba", "brutespray")  # fmt: skip
ATTEMPTS = 3


class PasswordGuessing(Signature):
    id = "credential_password_guessing"
    name = "Guesses passwords"
    description = (
        f"Runs a brute-force tool (hydra, medusa, ncrack, patator...), or tries passwords "
        f"{ATTEMPTS} or more times through sudo -S (password on standard input), su fed "
        "through a pipe, or sshpass: an account's password found by guessing."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1110.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*TOOLS):
            if run.item.args and not {"-h", "--help", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        tries = [
            run
            for run in ctx.commands("sudo", "su", "sshpass")
            if (run.item.name == "sudo" and {"-S", "--stdin"} & set(run.item.args))
            or run.item.name == "sshpass"
            # su reads the password from the terminal: fed by a pipe, it is being guessed.
            or (run.item.name == "su" and run.item.via == "shell" and run.item.stage > 0)
        ]
        # A try named in sh -c text that also ran shows twice: count the larger side.
        traced = sum(1 for run in tries if run.item.via == "exec")
        count = max(traced, len(tries) - traced)
        if count >= ATTEMPTS:
            for run in tries:
                yield run.evidence(f"{command_summary(run)} (one of {count} tries)")
