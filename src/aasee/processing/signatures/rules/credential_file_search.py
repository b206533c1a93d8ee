"""Searching the file system for credentials: find or locate for credential file names,
recursive grep for passwords, secrets and tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

NAME_OPTIONS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
                          "-regex", "-iregex"})  # fmt: skip
CREDENTIAL_NAMES = re.compile(
    r"credential|\.netrc|git-credentials|\.pgpass|\.my\.cnf|wp-config|passw|secret|\.aws|"
    r"\.azure|gcloud|\.oci|\.docker/config|\.kube|\.env\b|\.kdbx|\.keychain|shadow|"
    r"\.htpasswd|tomcat-users|\.vault-token|\.npmrc|\.pypirc|\.s3cfg|token",
    re.IGNORECASE,
)
SECRET_WORDS = re.compile(
    r"passw|pwd|secret|api[_-]?key|apikey|token|credential|private[_ -]key|BEGIN .*PRIVATE",
    re.IGNORECASE,
)
GREPS = ("grep", "egrep", "fgrep", "rg", "ag", "ack", "zgrep")


def _recursive(args: tuple[str, ...]) -> bool:
    return any(
        a in ("-r", "-R", "--recursive", "--dereference-recursive")
        or (a.startswith("-") and not a.startswith("--") and ("r" in a or "R" in a))
        for a in args
    )


class CredentialFileSearch(Signature):
    id = "credential_file_search"
    name = "Searches files for credentials"
    description = (
        "Runs find or locate for credential files (.netrc, .git-credentials, .pgpass, cloud "
        "credentials, wp-config.php, .env, *password*, *secret*, KeePass databases...), or "
        "greps recursively for passwords, secrets, API keys or tokens: secrets left in files "
        "collected across the whole system."
    )
    severity = "medium"
    category = "credential-access"
    techniques = ("T1552.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("find"):
            args = run.item.args
            patterns = [b for a, b in zip(args, args[1:], strict=False) if a in NAME_OPTIONS]
            if any(CREDENTIAL_NAMES.search(p) for p in patterns):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("locate", "mlocate", "plocate", "slocate"):
            if any(CREDENTIAL_NAMES.search(a) for a in run.item.args if not a.startswith("-")):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*GREPS):
            args = run.item.args
            recursive = _recursive(args) or run.item.name in ("rg", "ag", "ack")
            words = [a for a in args if not a.startswith("-")]
            if recursive and words and SECRET_WORDS.search(words[0]):
                yield run.evidence(command_summary(run))
