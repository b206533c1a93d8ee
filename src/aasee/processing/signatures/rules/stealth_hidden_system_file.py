"""Hidden files among system files: a dot-name created in /usr, /lib, /etc, /boot, /var/lib,
/dev... (temporary directories have stealth_hidden_tmp_directory)."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

SCOPES = ("/usr/**", "/lib/**", "/lib64/**", "/lib32/**", "/bin/**", "/sbin/**", "/etc/**",
          "/boot/**", "/var/lib/**", "/var/spool/**", "/var/log/**", "/var/cache/**", "/opt/**",
          "/srv/**", "/dev/**", "/run/**", "/var/run/**")  # fmt: skip
NOT_HIDING = ("/dev/shm/", "/run/shm/", "/run/user/")
# Package trees ship dot-files of their own (.eslintrc, .github, .bin): not hiding.
PACKAGE_TREES = ("/node_modules/", "/site-packages/", "/dist-packages/", "/.git/", "/vendor/",
                 "/gems/", "/.cargo/", "/go/pkg/")  # fmt: skip
LANGUAGE_INSTALLERS = frozenset({"npm", "node", "pip", "pip3", "gem", "cargo", "go", "yarn",
                                 "pnpm", "composer", "bundle", "git"})  # fmt: skip
ORDINARY = frozenset(
    {".pwd.lock", ".placeholder", ".keep", ".gitkeep", ".gitignore", ".git", ".updated",
     ".lock", ".build-id", ".dwz", ".java", ".systemd", ".htaccess", ".htpasswd",
     ".well-known", ".wh..wh..opq", ".depend", ".etckeeper", ".python_history", ".cache",
     ".dpkg-new", ".lastrun", ".managed", ".initialized", ".hash", ".rnd", ".ansible",
     ".journal", ".timestamp", ".dbus", ".pki"}
)  # fmt: skip


def hidden_part(path: str) -> str | None:
    """The first dot-name of ``path`` that is not one systems keep there, if any."""
    for part in path.split("/")[1:]:
        if part.startswith(".") and part not in (".", "..") and part not in ORDINARY:
            if not part.startswith((".#", ".~", ".dpkg-", ".tmp", ".goutputstream")):
                return part
    return None


class HiddenSystemFile(Signature):
    id = "stealth_hidden_system_file"
    name = "Hides files under a dot-name among system files"
    description = (
        "Creates a directory, writes or moves a file, or runs a program whose path has a "
        "component starting with a dot under /usr, /lib, /bin, /etc, /boot, /var/lib, /opt, "
        "/dev and the like (/usr/lib/.x/, /dev/.udev-cache): out of sight of ls and of a "
        "glance at system directories. Lock files, .build-id and other names systems keep "
        "there, and package installations, are not counted."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1564.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        records = [
            *ctx.files("mkdir", SCOPES),
            *ctx.files("written", SCOPES),
            *ctx.files("renamed", SCOPES),
        ]
        for found in records:
            path = written_path(found.item)
            if path.startswith(NOT_HIDING) or any(t in path for t in PACKAGE_TREES):
                continue
            if ctx.installing(found.process) or ctx.names(found.process) & LANGUAGE_INSTALLERS:
                continue
            name = hidden_part(path)
            if name is not None:
                verb = "created directory" if "/mkdir/" in found.ref else "wrote"
                yield found.evidence(f"{file_summary(found, verb)} (hidden as {name})")
        for run in ctx.runs():
            path = run.item.path
            scoped = path.startswith(tuple(s[:-2] for s in SCOPES)) and not path.startswith(
                NOT_HIDING
            )
            packaged = any(t in path for t in PACKAGE_TREES)
            if scoped and not packaged and hidden_part(path) is not None:
                yield run.evidence(run.item.summary)
