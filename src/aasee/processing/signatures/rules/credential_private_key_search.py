"""Searching for private keys: find or locate for SSH keys and key files, key directories
copied away."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, operands
from ..models import Evidence
from ..query import ReportIndex

NAME_OPTIONS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
                          "-regex", "-iregex"})  # fmt: skip
KEY_NAMES = re.compile(
    r"id_(rsa|dsa|ecdsa|ed25519)|\.pem\b|\.key\b|\.p12\b|\.pfx\b|\.ppk\b|\.gpg\b|\.asc\b|"
    r"\.gnupg|\.jks\b|\.keystore|ssh_host_.*_key|\.ssh\b|private",
    re.IGNORECASE,
)
KEY_DIRS = re.compile(r"(^|/)\.(ssh|gnupg)/?$")
COPIERS = ("cp", "rsync", "scp")


class PrivateKeySearch(Signature):
    id = "credential_private_key_search"
    name = "Searches for private keys"
    description = (
        "Runs find or locate for SSH private keys (id_rsa...), key files (.pem, .key, .p12, "
        ".pfx, .ppk, .gpg, keystores), or copies whole ~/.ssh or ~/.gnupg directories: keys "
        "that log in elsewhere or decrypt data."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1552.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("find"):
            args = run.item.args
            patterns = [b for a, b in zip(args, args[1:], strict=False) if a in NAME_OPTIONS]
            if any(KEY_NAMES.search(p) for p in patterns):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("locate", "mlocate", "plocate", "slocate"):
            if any(KEY_NAMES.search(a) for a in run.item.args if not a.startswith("-")):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*COPIERS):
            sources = operands(run.item)[:-1]
            if any(KEY_DIRS.search(s) for s in sources):
                yield run.evidence(command_summary(run))
