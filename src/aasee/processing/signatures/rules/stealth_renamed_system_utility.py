"""Renamed system utilities: a copy of a shell, interpreter or network tool from the system
directories, run under another name."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import SHELL_NAMES, file_summary
from ..models import Evidence
from ..query import ReportIndex

POWERFUL = frozenset(
    {"busybox", "nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "socat", "curl", "wget",
     "nmap", "ssh", "scp", "sshd", "openssl", "telnet", "tcpdump", "gdb", "perl", "php", "ruby",
     "node", "awk", "gawk", "dd", "base64", "xxd", "find", "env", "sudo", "su", "chmod", "rm"}
)  # fmt: skip


def _powerful(name: str) -> bool:
    return name in POWERFUL or name in SHELL_NAMES or name.startswith("python")


class RenamedSystemUtility(Signature):
    id = "stealth_renamed_system_utility"
    name = "Runs a copy of a system tool under another name"
    description = (
        "A shell, interpreter or network tool of the system's bin directories (sh, bash, "
        "busybox, python, perl, nc, socat, curl...) is copied, linked or moved elsewhere and "
        "run under a different name (cp /bin/sh /tmp/crond): its activity shows under a "
        "harmless-looking name and escapes rules keyed on the tool's name."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1036.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        copies = ctx.program_copies
        for run in ctx.runs():
            entry = copies.get(run.item.path)
            if entry is None or run.item.interpreter:
                continue
            source, made = entry
            original = posixpath.basename(source)
            if _powerful(original) and posixpath.basename(run.item.path) != original:
                yield made.evidence(f"{file_summary(made)} (a copy of {source})")
                yield run.evidence(f"{run.item.summary}: {original} under another name")
