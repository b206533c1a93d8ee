"""Local email collected: mailboxes read or copied by programs other than mail clients."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary
from ..models import Evidence
from ..query import ReportIndex

MAILBOXES = ("/var/mail/**", "/var/spool/mail/**", "/root/Maildir/**", "/home/*/Maildir/**",
             "/root/mbox", "/home/*/mbox", "/root/.thunderbird/**", "/home/*/.thunderbird/**",
             "/root/.local/share/evolution/mail/**",
             "/home/*/.local/share/evolution/mail/**")  # fmt: skip
MAIL_PROGRAMS = frozenset(
    {"mail", "mailx", "s-nail", "bsd-mailx", "mutt", "neomutt", "alpine", "pine", "thunderbird",
     "evolution", "dovecot", "imap", "pop3", "local", "virtual", "exim", "exim4", "sendmail",
     "procmail", "maildrop", "fetchmail", "biff", "comsat", "from", "frm", "movemail",
     "postfix", "deliver", "lda"}
)  # fmt: skip


class EmailCollection(Signature):
    id = "collection_email_data"
    name = "Reads local mailboxes"
    description = (
        "A program other than a mail client or server reads (or copies) mail spools "
        "(/var/mail, /var/spool/mail), Maildir or mbox folders, or Thunderbird and Evolution "
        "mail stores: messages, attachments and the credentials and links they hold."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1114.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", MAILBOXES):
            if not ctx.names(found.process) & MAIL_PROGRAMS:
                yield found.evidence(file_summary(found, "read"))
