"""Credential files read: shell histories, cloud and tool credentials, password stores."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..commands import SHELLS
from ..facts import basename, file_summary
from ..models import Evidence
from ..query import ReportIndex

HISTORIES = (
    ".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".mysql_history",
    ".psql_history", ".python_history", ".sqlite_history", ".rediscli_history",
)  # fmt: skip
SECRETS = (".netrc", ".git-credentials", ".pgpass", ".my.cnf", ".s3cfg", "wallet.dat")
SECRET_PATHS = (
    "/root/.aws/credentials",
    "/home/*/.aws/credentials",
    "/root/.docker/config.json",
    "/home/*/.docker/config.json",
    "/root/.kube/config",
    "/home/*/.kube/config",
    "/root/.config/gcloud/**",
    "/home/*/.config/gcloud/**",
    "/root/.gnupg/private-keys-v1.d/*",
    "/home/*/.gnupg/private-keys-v1.d/*",
)


class CredentialFilesRead(Signature):
    id = "credential_files"
    name = "Reads files that hold credentials"
    description = (
        "Opens shell or database client histories, .netrc, .git-credentials, cloud provider "
        "and Docker/Kubernetes credentials, GnuPG private keys or a wallet: secrets left on "
        "disk. A shell reading its own history, or Python its own, is not counted."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1552.001", "T1552.003")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files_named("read", HISTORIES):
            image = basename(ctx.image_of(found.process))
            own = image in SHELLS or (image.startswith("python") and "python" in found.item.path)
            if not own:
                yield found.evidence(file_summary(found, "read"))
        for found in [*ctx.files_named("read", SECRETS), *ctx.files("read", SECRET_PATHS)]:
            yield found.evidence(file_summary(found, "read"))
