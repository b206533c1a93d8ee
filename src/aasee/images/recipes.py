"""What goes into each guest image: one recipe per architecture profile.

``recipe_for(profile)`` is the guest ``aasee image build --arch NAME`` makes; ``RECIPES``
maps every profile's ``default_image`` name to it. A recipe's ``key()`` covers the recipe
and the parts of its profile that shape the image (kernel, userland, agent target, console,
command line), so a change to either rebuilds the image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from aasee.arch import ArchProfile, get_profile, profiles
from aasee.images.debian_packages import DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR, DebianSources

__all__ = ["DEBIAN_PACKAGES", "RECIPES", "GuestRecipe", "recipe_for"]

DEBIAN_PACKAGES = (
    # base system: what a minimal Debian server install has beyond minbase
    "systemd",
    "systemd-sysv",
    "ifupdown",
    "iproute2",
    "kmod",
    "procps",
    "psmisc",
    "netbase",
    "busybox",
    "passwd",
    "tzdata",
    "lsb-release",
    "dmidecode",
    "pciutils",
    "less",
    "vim-tiny",
    "lsof",
    "file",
    "bzip2",
    "xz-utils",
    "zip",
    "unzip",
    "gnupg",
    "logrotate",
    "bash-completion",
    # services running on the server
    "cron",
    "at",
    "openssh-server",
    "openssh-client",
    "rsyslog",
    "nginx-light",
    # administration and network tools payloads call
    "sudo",
    "curl",
    "wget",
    "openssl",
    "ca-certificates",
    "ufw",
    "iptables",
    "nftables",
    "iputils-ping",
    "net-tools",
    "netcat-openbsd",
    "bind9-dnsutils",
    "ldap-utils",
    # interpreters
    "perl",
    "python3",
)
"""What the Debian server guest has besides minbase: a small server's services (cron, at,
sshd, rsyslog, nginx), the administration and network tools payloads call, interpreters.
systemd is there for its commands and unit directories only: PID 1 is the agent."""


def _mirror() -> str:
    return os.environ.get("AASEE_DEBIAN_MIRROR", DEFAULT_MIRROR)


def _security_mirror() -> str:
    return os.environ.get("AASEE_DEBIAN_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR)


@dataclass(frozen=True)
class GuestRecipe:
    """What goes into a guest; its key (with the profile's) is part of the image's."""

    name: str = "debian-bookworm-amd64"
    arch: str = "x86_64"
    """The architecture profile's name (``aasee.arch``)."""
    suite: str = "bookworm"
    mirror: str = field(default_factory=_mirror)
    security_mirror: str = field(default_factory=_security_mirror)
    packages: tuple[str, ...] = DEBIAN_PACKAGES
    """Debian packages added to a debootstrapped root (``debian`` userland only)."""
    disk_size: str = "3G"
    user: str = "admin"
    """The unprivileged account of a Debian root (uid 1000; devices always have ``admin``).
    Not ``analyst`` or the like: samples look for sandbox-sounding account names."""
    hostname: str = "srv-web01"
    timezone: str = "Europe/Berlin"
    """The Debian root's time zone (``/etc/localtime``)."""

    @property
    def profile(self) -> ArchProfile:
        return get_profile(self.arch)

    @property
    def sources(self) -> DebianSources:
        return DebianSources(self.suite, self.mirror, self.security_mirror)

    def key(self) -> str:
        profile = self.profile
        shaping: dict[str, Any] = {
            "recipe": dataclasses.asdict(self),
            "kernel": [type(profile.kernel).__name__, dataclasses.asdict(profile.kernel)],
            "userland": dataclasses.asdict(profile.userland),
            "go": dataclasses.asdict(profile.go),
            "console": profile.emulation.console,
            "extra_cmdline": list(profile.extra_cmdline),
        }
        blob = json.dumps(shaping, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def recipe_for(profile: ArchProfile) -> GuestRecipe:
    """The recipe of ``profile``'s default image."""
    if profile.userland.kind == "debian":
        return GuestRecipe(name=profile.default_image, arch=profile.name)
    return GuestRecipe(
        name=profile.default_image,
        arch=profile.name,
        packages=(),
        disk_size="512M",
        hostname="router",
    )


RECIPES: dict[str, GuestRecipe] = {
    profile.default_image: recipe_for(profile) for profile in profiles()
}
"""Image name -> recipe, for every architecture."""
