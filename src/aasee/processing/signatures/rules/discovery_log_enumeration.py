"""Log enumeration: system and security logs searched."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SECURITY_LOGS = ("/var/log/auth.log*", "/var/log/secure*", "/var/log/syslog*",
                 "/var/log/messages*", "/var/log/audit/*", "/var/log/kern.log*",
                 "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/sudo.log",
                 "/var/log/apache2/*", "/var/log/nginx/*", "/var/log/httpd/*")  # fmt: skip
WRITING = ("--vacuum", "--rotate", "--flush", "--sync", "--relinquish-var", "--setup-keys")


class LogEnumeration(Signature):
    id = "discovery_log_enumeration"
    name = "Searches system logs"
    description = (
        "Runs journalctl to read the journal, ausearch or aureport, last/lastb on the login "
        "records, or reads authentication, system, audit or web server logs with a text "
        "tool: who logs in from where, which alerts fired, what credentials or hosts show "
        "in the logs."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1654",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("journalctl"):
            if not any(a.startswith(WRITING) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ausearch", "aureport", "lastb", "utmpdump"):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("last"):
            if any(a == "-f" or a.startswith("-f") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", SECURITY_LOGS):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
