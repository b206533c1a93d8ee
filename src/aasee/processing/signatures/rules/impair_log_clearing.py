"""System logs cleared: files under /var/log truncated, deleted, replaced or unlinked to
/dev/null; login records (utmp/wtmp/btmp/lastlog) rewritten; journal vacuumed."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

LOGS = ("/var/log/**",)
LOGIN_RECORDS = ("/var/run/utmp", "/run/utmp", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog")
# Logs the system keeps. Opening any other /var/log file with O_CREAT|O_TRUNC may be a
# program starting its own fresh log, so only these (and truncation without O_CREAT) count.
SYSTEM_LOGS = frozenset(
    {"syslog", "messages", "auth.log", "secure", "kern.log", "daemon.log", "user.log", "debug",
     "cron", "cron.log", "maillog", "mail.log", "mail.err", "boot.log", "dmesg", "faillog",
     "lastlog", "wtmp", "btmp", "dpkg.log", "alternatives.log", "audit.log", "history.log",
     "term.log", "yum.log", "fail2ban.log", "ufw.log", "sudo.log", "access.log", "error.log"}
)  # fmt: skip
SYSTEM_LOG_DIRS = ("/var/log/audit/", "/var/log/journal/", "/var/log/apt/", "/var/log/installer/")
# Programs whose job is to rotate logs or keep login records.
KEEPERS = frozenset(
    {"logrotate", "savelog", "newsyslog", "systemd-journald", "login", "sshd", "agetty",
     "systemd-logind", "utempter", "systemd-update-utmp", "lastlog", "auditd"}
)  # fmt: skip


def _system_log(path: str) -> bool:
    name = posixpath.basename(path)
    rotated = name.split(".")[0] + ".log" if name.endswith((".1", ".gz")) else name
    return name in SYSTEM_LOGS or rotated in SYSTEM_LOGS or path.startswith(SYSTEM_LOG_DIRS)


class LogClearing(Signature):
    id = "impair_log_clearing"
    name = "Clears system logs"
    description = (
        "Truncates or deletes files under /var/log, moves them away or links them to "
        "/dev/null, rewrites the login records (utmp, wtmp, btmp, lastlog) in place, runs "
        "truncate/shred on them, or vacuums the journal. Appending to a log, starting a log of "
        "its own, deleting a file it created itself, and log rotation (logrotate, savelog) "
        "are not counted."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1685.006",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        own = ctx.created_paths
        keepers = {
            p.key
            for p in ctx.report.processes
            if any(ctx.names(a.key) & KEEPERS for a in ctx.lineage(p.key))
        }
        for found in ctx.files("written", LOGS):
            if found.process in keepers:
                continue
            path = found.item.path
            creating = "O_CREAT" in found.item.flags
            if ctx.truncated(found) and (not creating or _system_log(path)):
                yield found.evidence(file_summary(found, "truncated"))
        for found in ctx.files("written", LOGIN_RECORDS):
            if found.process in keepers:
                continue
            if not ctx.truncated(found) and "O_APPEND" not in found.item.flags:
                yield found.evidence(file_summary(found, "rewrote login records in"))
        for found in ctx.files("deleted", LOGS):
            if found.item.path not in own and found.process not in keepers:
                yield found.evidence(file_summary(found, "deleted"))
        for found in [*ctx.files("renamed_src", LOGS), *ctx.files("links", LOGS)]:
            if found.process not in keepers:
                yield found.evidence(file_summary(found))
        for run in ctx.commands("truncate", "shred"):
            if any(arg.startswith("/var/log/") for arg in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("journalctl"):
            if any(arg.startswith("--vacuum") for arg in run.item.args):
                yield run.evidence(command_summary(run))
