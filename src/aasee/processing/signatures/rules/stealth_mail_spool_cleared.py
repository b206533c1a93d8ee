"""Mailbox data cleared: mail spools emptied, overwritten or deleted."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SPOOLS = ("/var/mail/**", "/var/spool/mail/**", "/root/Maildir/**", "/home/*/Maildir/**",
          "/root/mbox", "/home/*/mbox", "/root/Mail/**", "/home/*/Mail/**")  # fmt: skip
MAILERS = frozenset(
    {"local", "virtual", "exim", "exim4", "sendmail", "postfix", "dovecot", "deliver", "lda",
     "dovecot-lda", "procmail", "maildrop", "mail", "mailx", "s-nail", "bsd-mailx", "mutt",
     "neomutt", "alpine", "pine", "fetchmail", "postdrop", "cleanup", "movemail"}
)  # fmt: skip


class MailSpoolCleared(Signature):
    id = "stealth_mail_spool_cleared"
    name = "Clears mailboxes"
    description = (
        "Truncates, overwrites or deletes mail spools (/var/mail, /var/spool/mail, Maildir, "
        "mbox), or runs truncate/shred on them, outside the mail programs: messages removed, "
        "including the reports root's mailbox collects (cron output, logwatch), which test "
        "catalogues also file under clearing system logs."
    )
    severity = "medium"
    category = "stealth"
    techniques = ("T1070.008", "T1685.006")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("written", SPOOLS):
            if ctx.truncated(found) and not ctx.names(found.process) & MAILERS:
                yield found.evidence(file_summary(found, "overwrote"))
        for found in ctx.files("deleted", SPOOLS):
            if not ctx.names(found.process) & MAILERS:
                yield found.evidence(file_summary(found, "deleted"))
        for run in ctx.commands("truncate", "shred"):
            spool = ("/var/mail/", "/var/spool/mail/")
            if any(a.startswith(spool) for a in run.item.args):
                yield run.evidence(command_summary(run))
