"""File capabilities granting root powers: setcap with cap_setuid, cap_sys_admin and the
like on a program."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

POWERFUL = re.compile(
    r"cap_(setuid|setgid|sys_admin|dac_override|dac_read_search|sys_ptrace|sys_module|chown|"
    r"fowner|setfcap|sys_rawio|bpf|sys_chroot)|(^|[,\s])all[=+]",
    re.IGNORECASE,
)


class FileCapabilities(Signature):
    id = "privesc_file_capabilities"
    name = "Gives a program root powers through file capabilities"
    description = (
        "Runs setcap to grant a file cap_setuid, cap_setgid, cap_sys_admin, cap_dac_override, "
        "cap_sys_ptrace, cap_sys_module or similar: whoever runs it can become root, like a "
        "setuid program but less visible. Removing capabilities (setcap -r) or granting a "
        "narrow one (cap_net_bind_service) is not counted."
    )
    severity = "high"
    category = "privilege-escalation"
    techniques = ("T1548.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("setcap"):
            args = run.item.args
            if "-r" not in args and any(POWERFUL.search(a) for a in args):
                yield run.evidence(command_summary(run))
