"""Web services used as a channel: messenger bot APIs, webhooks, paste sites, tunnel
endpoints."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..models import Evidence
from ..query import Found, ReportIndex, pointer

SERVICES = ("api.telegram.org", "discord.com", "discordapp.com", "pastebin.com", "paste.ee",
            "hastebin.com", "rentry.co", "ghostbin.com", "dpaste.com", "dpaste.org",
            "webhook.site", "pipedream.net", "requestbin.net", "ngrok.io", "ngrok-free.app",
            "ngrok.app", "trycloudflare.com", "serveo.net", "localhost.run", "loca.lt",
            "pastebin.pl", "controlc.com", "privatebin.net", "api.slack.com", "hooks.slack.com",
            "notion.so", "gist.githubusercontent.com")  # fmt: skip


def _service(name: str) -> str | None:
    name = name.lower().rstrip(".")
    for service in SERVICES:
        if name == service or name.endswith("." + service):
            return service
    return None


class WebServiceChannel(Signature):
    id = "c2_web_service_channel"
    name = "Talks to a web service used as a command channel"
    description = (
        "Looks up, connects by TLS or sends HTTP to a service attackers use to pass commands "
        "and data through infrastructure nobody blocks: Telegram's bot API, Discord or Slack "
        "webhooks, paste sites (pastebin, rentry...), request catchers (webhook.site, "
        "pipedream), tunnel endpoints (ngrok, trycloudflare)."
    )
    severity = "low"
    category = "command-and-control"
    techniques = ("T1102",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        seen: set[str] = set()
        for name in ctx.dns_names:
            service = _service(name.item)
            if service is not None and name.item not in seen:
                seen.add(name.item)
                yield name.evidence(f"looked up {name.item} ({service})")
        for i, hello in enumerate(ctx.report.network.tls):
            service = _service(hello.sni or "")
            if service is not None:
                found = Found(hello, pointer("network", "tls", i), hello.process, hello.pid)
                yield found.evidence(f"TLS to {hello.sni}")
        for request in ctx.http():
            if _service(request.item.host or "") is not None:
                yield request.evidence(f"{request.item.method} {request.item.url}")
