"""Exfiltration to file-sharing and paste services."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

DROPS = ("transfer.sh", "file.io", "0x0.st", "temp.sh", "bashupload.com", "oshi.at",
         "catbox.moe", "litterbox.catbox.moe", "gofile.io", "anonfiles.com", "termbin.com",
         "ix.io", "sprunge.us", "paste.c-net.org", "pastebin.com", "paste.ee", "hastebin.com",
         "webhook.site", "filebin.net", "tmpfiles.org", "uguu.se", "pixeldrain.com",
         "file.coffee", "keep.sh", "free.keep.sh", "discord.com", "discordapp.com",
         "api.telegram.org")  # fmt: skip
UPLOAD = frozenset({"-T", "--upload-file", "-F", "--form", "--data-binary", "-d", "--data",
                    "--post-file", "--body-file", "--method=PUT", "--method=POST"})  # fmt: skip


def _drop(text: str) -> str | None:
    text = text.lower()
    for host in DROPS:
        if f"//{host}" in text or f".{host}" in text or text.startswith(host):
            return host
    return None


class WebServiceExfiltration(Signature):
    id = "exfil_web_service"
    name = "Uploads data to a file-sharing or paste service"
    description = (
        "Sends a file or data (curl -T/-F/--data-binary, wget --post-file, an HTTP POST or "
        "PUT with a body) to a file drop or paste service (transfer.sh, file.io, 0x0.st, "
        "catbox, gofile, termbin, pastebin, webhook.site, a Discord webhook or Telegram "
        "bot...), or pipes data into nc termbin.com: stolen data parked where the attacker "
        "picks it up."
    )
    severity = "medium"
    category = "exfiltration"
    techniques = ("T1567",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("curl", "wget"):
            args = run.item.args
            sending = any(a.split("=", 1)[0] in UPLOAD or a in UPLOAD for a in args)
            if sending and any(_drop(a) for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("nc", "ncat", "netcat"):
            if any(a in ("termbin.com", "tcp.st") for a in run.item.args):
                yield run.evidence(command_summary(run))
        for request in ctx.http():
            item = request.item
            if item.method in ("POST", "PUT") and _drop(f"//{item.host or ''}") and item.body_size:
                yield request.evidence(
                    f"{item.method} {item.url} with a {item.body_size}-byte body"
                )
