"""System logging and auditing disabled: auditd rules cleared or auditing off, the audit or
syslog daemons stopped or killed, their configuration rewritten."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

LOGGERS = frozenset(
    {"auditd", "rsyslog", "rsyslogd", "syslog", "syslogd", "syslog-ng", "systemd-journald",
     "journald", "auditbeat", "sysmon"}
)  # fmt: skip
STOPPING = frozenset({"stop", "disable", "mask", "kill"})
CONFIG = ("/etc/audit/**", "/etc/rsyslog.conf", "/etc/rsyslog.d/*", "/etc/syslog-ng/**",
          "/etc/systemd/journald.conf", "/etc/systemd/journald.conf.d/*")  # fmt: skip


class AuditLoggingDisable(Signature):
    id = "impair_audit_logging"
    name = "Disables auditing or system logging"
    description = (
        "Runs auditctl -e 0 or -D, stops, disables or kills auditd, rsyslog, syslog-ng or "
        "journald, or rewrites their configuration: what happens next is not recorded."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1685.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("auditctl"):
            args = run.item.args
            off = any(a == "-e" and args[i + 1 : i + 2] == ("0",) for i, a in enumerate(args))
            if off or "-D" in args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl", "service"):
            words = {a.removesuffix(".service") for a in run.item.args}
            if words & LOGGERS and words & STOPPING:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("pkill", "killall"):
            if {a.lstrip("-") for a in run.item.args} & LOGGERS:
                yield run.evidence(command_summary(run))
        for found in ctx.modified(CONFIG):
            yield found.evidence(file_summary(found))
