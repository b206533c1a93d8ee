"""Exfiltration over a clear-text protocol other than the C2 channel: files served for the
taking (python -m http.server...), uploaded by FTP or TFTP, pushed through nc or
/dev/tcp, mailed as attachments."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, option_value
from ..models import Evidence
from ..query import ReportIndex

SERVING_MODULES = frozenset({"http.server", "SimpleHTTPServer", "pyftpdlib", "uploadserver",
                             "RangeHTTPServer", "updog"})  # fmt: skip
RELAYS = ("nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "telnet", "socat", "cryptcat")
UPLOADERS = ("ftpput", "wput", "ncftpput", "curlftpfs")
FTP_UPLOAD = re.compile(r"(^|[;\s])m?put\b|\bmirror\s+(-R|--reverse)\b")
MAILERS = ("mail", "mailx", "s-nail", "mutt", "neomutt", "swaks", "sendemail", "mpack")


class UnencryptedExfiltration(Signature):
    id = "exfil_unencrypted_protocol"
    name = "Sends files out over a clear-text protocol"
    description = (
        "Serves files for download (python -m http.server, SimpleHTTPServer, php -S, ruby "
        "-run -e httpd, busybox httpd, updog), uploads them by FTP or TFTP (ftpput, tftp -p, "
        "curl -T ftp://, lftp put), feeds a file to nc/telnet/socat or redirects one into "
        "/dev/tcp, or mails one as an attachment: data leaving by a protocol other than the "
        "command channel."
    )
    severity = "medium"
    category = "exfiltration"
    techniques = ("T1048.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands_where(lambda name: name.startswith("python")):
            module = option_value(run.item, "-m")
            if module in SERVING_MODULES:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("php"):
            if option_value(run.item, "-S") is not None:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ruby"):
            if "httpd" in run.item.args and any("-run" in a for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("httpd", "busybox-httpd", "updog", "webfsd", "darkhttpd"):
            if run.item.name != "httpd" or "-f" in run.item.args or "-p" in run.item.args:
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*UPLOADERS):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("tftp", "atftp"):
            args = run.item.args
            if {"-p", "--put", "put"} & set(args) or any(a.startswith("-p") for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("curl"):
            args = run.item.args
            upload = any(a in ("-T", "--upload-file") for a in args)
            if upload and any(
                a.startswith(("ftp://", "tftp://", "ftps://", "smb://")) for a in args
            ):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("lftp", "ftp"):
            if any(FTP_UPLOAD.search(a) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands(*RELAYS):
            if run.item.redirected("<"):
                yield run.evidence(command_summary(run) + " (a file fed to it)")
        for run in ctx.shell_commands():
            if any(
                t.startswith(("/dev/tcp/", "/dev/udp/")) for t in run.item.redirected(">", ">>")
            ):
                if run.item.name in ("cat", "dd", "base64", "tar", "gzip", "xxd") or run.item.args:
                    yield run.evidence(command_summary(run) + " (sent to /dev/tcp)")
        for run in ctx.commands(*MAILERS):
            if any(
                a in ("-a", "-A", "--attach", "-attach") or a.startswith("--attach")
                for a in run.item.args
            ):
                yield run.evidence(command_summary(run))
