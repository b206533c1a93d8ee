"""Installer package persistence: hooks that package managers run (APT, yum/dnf plugins,
dpkg options, pacman hooks) written, or a local package installed from a temporary place."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEMP_DIRS, command_summary, file_summary, operands
from ..models import Evidence
from ..query import ReportIndex

HOOK_PATHS = (
    "/etc/apt/apt.conf", "/etc/apt/apt.conf.d/*", "/etc/yum/pluginconf.d/*",
    "/usr/lib/yum-plugins/*", "/etc/dnf/plugins/*", "/usr/lib/python3*/site-packages/dnf-plugins/*",
    "/etc/dpkg/dpkg.cfg", "/etc/dpkg/dpkg.cfg.d/*", "/usr/share/libalpm/hooks/*",
    "/etc/pacman.d/hooks/*", "/etc/yum.conf", "/etc/dnf/dnf.conf",
)  # fmt: skip
INSTALLING = {
    "dpkg": frozenset({"-i", "--install", "--unpack"}),
    "rpm": frozenset({"-i", "-U", "-ivh", "-Uvh", "--install", "--upgrade", "-F", "--freshen"}),
}
PACKAGE_SUFFIXES = (".deb", ".rpm", ".apk", ".pkg.tar.zst", ".pkg.tar.xz")


class PackageManagerHook(Signature):
    id = "persistence_package_manager_hook"
    name = "Hooks the package manager or installs a package from a temporary place"
    description = (
        "Writes an APT configuration snippet (APT::Update::Pre-Invoke and the like), a yum or "
        "dnf plugin, dpkg options or a pacman hook, which run commands as root whenever "
        "packages are managed; or installs a .deb/.rpm from /tmp, /var/tmp or /dev/shm, "
        "whose maintainer scripts run as root. Installations from repositories are not "
        "counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1546.016",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(HOOK_PATHS):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
        for run in ctx.commands("dpkg", "rpm", "apt", "apt-get", "dnf", "yum", "zypper"):
            command = run.item
            flags = INSTALLING.get(command.name)
            installing = (
                bool(flags & set(command.args))
                if flags is not None
                else bool({"install", "localinstall", "reinstall"} & set(command.args))
            )
            local = [
                a for a in operands(command)
                if a.endswith(PACKAGE_SUFFIXES) and (a.startswith(TEMP_DIRS) or "/." in a)
            ]  # fmt: skip
            if installing and local:
                yield run.evidence(command_summary(run))
