"""SSH private keys read (user keys or the host's keys), by something other than ssh itself."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, file_summary
from ..models import Evidence
from ..query import ReportIndex

KEY_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk")
SSH_DIRS = ("/root/.ssh/*", "/home/*/.ssh/*", "/etc/ssh/ssh_host_*_key")
NOT_KEYS = frozenset(
    {"known_hosts", "known_hosts.old", "config", "authorized_keys", "authorized_keys2",
     "environment", "rc"}
)  # fmt: skip
SSH_TOOLS = frozenset({"ssh", "sshd", "ssh-keygen", "ssh-add", "ssh-agent", "scp", "sftp"})


class SshPrivateKeyRead(Signature):
    id = "credential_ssh_private_keys"
    name = "Reads SSH private keys"
    description = (
        "Opens a user's SSH private key (~/.ssh/id_*) or a host key (/etc/ssh/ssh_host_*_key) "
        "to read it, outside the SSH programs: keys to log in elsewhere."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1552.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        candidates = [*ctx.files_named("read", KEY_NAMES), *ctx.files("read", SSH_DIRS)]
        seen: set[str] = set()
        for found in candidates:
            name = basename(found.item.path)
            if found.ref in seen or name in NOT_KEYS or name.endswith(".pub"):
                continue
            seen.add(found.ref)
            if basename(ctx.image_of(found.process)) not in SSH_TOOLS:
                yield found.evidence(file_summary(found, "read"))
