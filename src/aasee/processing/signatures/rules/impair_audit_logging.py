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
CONFIG = ("/etc/audit/**", "/etc/audisp/**", "/etc/libaudit.conf", "/etc/rsyslog.conf",
          "/etc/rsyslog.d/*", "/etc/syslog-ng/**", "/etc/syslog.conf", "/etc/systemd/journald.conf",
          "/etc/systemd/journald.conf.d/*", "/etc/default/auditd")  # fmt: skip


class AuditLoggingDisable(Signature):
    id = "impair_audit_logging"
    name = "Disables auditing or system logging"
    description = (
        "Runs auditctl -e 0, -D (all rules deleted), -d or -W (a rule or watch removed), or "
        "-a never, stops, disables or kills auditd, rsyslog, syslog-ng or journald, or "
        "rewrites their configuration (/etc/audit, /etc/audisp, libaudit.conf, rsyslog.conf, "
        "syslog.conf, journald.conf): what happens next is not recorded. Package "
        "installations are not counted."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1685.004",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("auditctl"):
            args = run.item.args
            off = any(a == "-e" and args[i + 1 : i + 2] == ("0",) for i, a in enumerate(args))
            never = any(a == "-a" and "never" in b for a, b in zip(args, args[1:], strict=False))
            if off or never or {"-D", "-d", "-W"} & set(args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl", "service"):
            words = {a.removesuffix(".service") for a in run.item.args}
            if words & LOGGERS and words & STOPPING:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("pkill", "killall"):
            if {a.lstrip("-") for a in run.item.args} & LOGGERS:
                yield run.evidence(command_summary(run))
        for found in ctx.modified(CONFIG):
            if not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
