"""SSH persistence: an authorized_keys file or the SSH server configuration written."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex


class SshAuthorizedKeys(Signature):
    id = "persistence_ssh_authorized_keys"
    name = "Adds SSH authorized keys or changes the SSH server configuration"
    description = (
        "Writes an authorized_keys file (a key that logs in without a password) or "
        "/etc/ssh/sshd_config."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1098.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        found = [
            *ctx.modified_named(("authorized_keys", "authorized_keys2")),
            *ctx.modified(("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/*")),
        ]
        for item in found:
            yield item.evidence(file_summary(item))
