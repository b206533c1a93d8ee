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


# Programs that read these files to use them (a client reading its own password file).
CONSUMERS = {
    ".my.cnf": frozenset({"mysql", "mariadb", "mysqldump", "mariadb-dump", "mysqladmin"}),
    ".pgpass": frozenset({"psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup"}),
    ".netrc": frozenset({"curl", "wget", "ftp", "lftp", "git", "git-remote-https", "fetchmail"}),
    ".git-credentials": frozenset({"git", "git-credential-store"}),
    ".s3cfg": frozenset({"s3cmd"}),
    "credentials": frozenset({"aws", "aws_completer"}),
    "config.json": frozenset({"docker", "dockerd", "podman", "skopeo", "buildah"}),
    "config": frozenset({"kubectl", "helm", "k9s", "kubelet"}),
}
HISTORY_OWNERS = {
    ".mysql_history": frozenset({"mysql", "mariadb"}),
    ".psql_history": frozenset({"psql"}),
    ".sqlite_history": frozenset({"sqlite3"}),
    ".rediscli_history": frozenset({"redis-cli"}),
}


class CredentialFilesRead(Signature):
    id = "credential_files"
    name = "Reads files that hold credentials"
    description = (
        "Opens shell or database client histories, .netrc, .git-credentials, cloud provider "
        "and Docker/Kubernetes credentials, GnuPG private keys or a wallet: secrets left on "
        "disk. A shell reading its own history, or Python its own, and a client reading its "
        "own password file (mysql ~/.my.cnf, psql ~/.pgpass, the aws, docker, kubectl or gcloud "
        "command line its configuration) are not counted."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1552.001", "T1552.003")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files_named("read", HISTORIES):
            image = basename(ctx.image_of(found.process))
            own = image in SHELLS or (image.startswith("python") and "python" in found.item.path)
            owners = HISTORY_OWNERS.get(basename(found.item.path), frozenset())
            own = own or bool(ctx.names(found.process) & owners)
            if not own:
                yield found.evidence(file_summary(found, "read"))
        for found in [*ctx.files_named("read", SECRETS), *ctx.files("read", SECRET_PATHS)]:
            users = CONSUMERS.get(basename(found.item.path), frozenset())
            if "/gcloud/" in found.item.path:
                users = frozenset({"gcloud", "gsutil", "bq"})
            # The client may be a script: its interpreter reads on its behalf.
            if not any(ctx.names(p.key) & users for p in ctx.lineage(found.process)):
                yield found.evidence(file_summary(found, "read"))
