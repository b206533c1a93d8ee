"""Password stores read by another program: keyrings, KWallet, KeePass databases, the pass
store, or secrets queried with secret-tool."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

STORES = (
    "/root/.local/share/keyrings/*", "/home/*/.local/share/keyrings/*",
    "/root/.local/share/kwalletd/*", "/home/*/.local/share/kwalletd/*",
    "/root/.password-store/**", "/home/*/.password-store/**", "/**/*.kdbx", "/**/*.kdb",
    "/root/.config/Bitwarden/**", "/home/*/.config/Bitwarden/**",
)  # fmt: skip
OWNERS = frozenset(
    {"gnome-keyring-daemon", "kwalletd", "kwalletd5", "kwalletd6", "keepassxc", "keepass2",
     "keepassx", "pass", "gpg", "gpg-agent", "seahorse", "bitwarden", "secret-tool"}
)  # fmt: skip


class PasswordStores(Signature):
    id = "credential_password_stores"
    name = "Reads a password store"
    description = (
        "A program other than the store's own opens a GNOME keyring, KWallet, a KeePass "
        "database, the pass store or Bitwarden's data, or secret-tool looks secrets up: "
        "a user's saved passwords."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1555",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", STORES):
            if not ctx.names(found.process) & OWNERS:
                yield found.evidence(file_summary(found, "read"))
        for run in ctx.commands("secret-tool"):
            if {"lookup", "search"} & set(run.item.args):
                yield run.evidence(command_summary(run))
