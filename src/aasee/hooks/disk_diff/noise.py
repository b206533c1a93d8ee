"""What the guest itself always changes on its disk, ignored only through this explicit list.

Each rule names a path pattern (``fnmatch``, ``*`` does not stop at ``/``), the kinds of
change it forgives and, for logs, that the file did not shrink: a log that lost data was
cleared, which is evidence, never noise. Deletions, permission or owner changes and type
changes of these paths are always reported. The hook's ``disk_diff_ignore`` configuration
adds patterns of the same kind (forgiving created, modified and metadata changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["DEFAULT_RULES", "NoiseRule", "extra_rules", "is_noise"]


@dataclass(frozen=True)
class NoiseRule:
    pattern: str
    changes: frozenset[str]
    why: str
    grow_only: bool = False
    """Forgive a modification only if the file did not get smaller."""
    symlink_target: str | None = None
    """Forgive only a symbolic link pointing here."""

    def matches(self, entry: dict[str, object]) -> bool:
        path = entry.get("path")
        if not isinstance(path, str) or entry.get("change") not in self.changes:
            return False
        if not fnmatchcase(path, self.pattern):
            return False
        changed = entry.get("changed")
        if isinstance(changed, list) and {"type", "mode", "uid", "gid", "attributes"} & set(
            changed
        ):
            return False
        if self.symlink_target is not None:
            return entry.get("type") == "symlink" and entry.get("target") == self.symlink_target
        if self.grow_only:
            before = entry.get("before")
            if isinstance(before, dict):
                old, new = before.get("size"), entry.get("size")
                if isinstance(old, int) and isinstance(new, int) and new < old:
                    return False
        return True


_WRITES = frozenset({"created", "modified", "metadata"})
_UPDATES = frozenset({"modified", "metadata"})

DEFAULT_RULES: tuple[NoiseRule, ...] = (
    NoiseRule("/var/log/journal/*.journal", _WRITES, "systemd-journald", grow_only=True),
    NoiseRule("/var/log/journal/*.journal~", _WRITES, "systemd-journald", grow_only=True),
    NoiseRule("/var/log/syslog", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/messages", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/kern.log", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/daemon.log", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/user.log", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/debug", _UPDATES, "syslog", grow_only=True),
    NoiseRule("/var/log/wtmp", _UPDATES, "login records", grow_only=True),
    NoiseRule("/var/log/lastlog", _UPDATES, "login records"),
    NoiseRule("/var/lib/systemd/random-seed", _UPDATES, "systemd-random-seed"),
    NoiseRule("/var/lib/systemd/timesync/clock", _UPDATES, "systemd-timesyncd"),
    NoiseRule("/var/lib/systemd/timers/stamp-*", _WRITES, "systemd timers"),
    NoiseRule("/var/lib/logrotate/status", _UPDATES, "logrotate"),
    NoiseRule("/var/cache/ldconfig/aux-cache", _UPDATES, "ldconfig"),
    NoiseRule("/var/lib/dhcp/dhclient*.leases", _WRITES, "DHCP client"),
    NoiseRule("/etc/mtab", _WRITES, "the mount table link", symlink_target="../proc/self/mounts"),
    NoiseRule("/etc/mtab", _WRITES, "the mount table link", symlink_target="/proc/self/mounts"),
)


def is_noise(entry: dict[str, object], rules: Iterable[NoiseRule]) -> bool:
    return any(rule.matches(entry) for rule in rules)


def extra_rules(patterns: Iterable[str]) -> tuple[NoiseRule, ...]:
    return tuple(NoiseRule(str(p), _WRITES, "configured") for p in patterns)
