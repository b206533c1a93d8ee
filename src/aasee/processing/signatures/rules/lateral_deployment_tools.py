"""Software deployment tools driven to run commands across hosts."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, option_value
from ..models import Evidence
from ..query import ReportIndex

ANSIBLE_RUNNERS = frozenset({"shell", "command", "raw", "script", "ansible.builtin.shell",
                             "ansible.builtin.command", "ansible.builtin.raw",
                             "ansible.builtin.script"})  # fmt: skip
SALT_RUNNERS = frozenset({"cmd.run", "cmd.script", "cmd.exec_code", "cmd.run_all", "cmd.shell"})


class DeploymentTools(Signature):
    id = "lateral_deployment_tools"
    name = "Runs commands through a deployment tool"
    description = (
        "Runs ansible with the shell, command, raw or script module, salt with cmd.run or "
        "cmd.script, or mco shell: the configuration management system used to run code on "
        "every host it manages."
    )
    severity = "medium"
    category = "lateral-movement"
    techniques = ("T1072",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("ansible"):
            module = option_value(run.item, "-m", "--module-name")
            given = option_value(run.item, "-a", "--args")
            if module in ANSIBLE_RUNNERS or (module is None and given):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("salt", "salt-ssh", "salt-call"):
            if SALT_RUNNERS & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("mco"):
            if run.item.args[:1] in (("shell",), ("rpc",)):
                yield run.evidence(command_summary(run))
