"""Shell-startup persistence: profile, bashrc and friends written."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

SYSTEM_PROFILES = (
    "/etc/profile",
    "/etc/profile.d/*",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/bash.bash_logout",
    "/etc/zsh/*",
    "/etc/zshrc",
    "/etc/zprofile",
)
USER_PROFILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zlogin",
    ".zshenv",
    ".kshrc",
    ".cshrc",
    ".tcshrc",
)


class ShellProfilePersistence(Signature):
    id = "persistence_shell_profile"
    name = "Modifies a shell startup file"
    description = (
        "Writes /etc/profile, /etc/profile.d, bash.bashrc or a user's .bashrc/.profile/.zshrc: "
        "whatever it adds runs in every new shell. "
        "Package installations (apt, dnf... and the scripts they run) are not counted."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1546.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in [*ctx.modified(SYSTEM_PROFILES), *ctx.modified_named(USER_PROFILES)]:
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
