"""System location discovery: geolocation services asked, the time zone looked up."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import TEXT_TOOLS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

GEO_SERVICES = frozenset(
    {"ipinfo.io", "ip-api.com", "ipapi.co", "ipgeolocation.io", "api.ipgeolocation.io",
     "freegeoip.app", "freegeoip.io", "geoplugin.net", "www.geoplugin.net", "ipwho.is",
     "ipwhois.app", "extreme-ip-lookup.com", "api.db-ip.com", "geolocation-db.com",
     "ipapi.com", "api.ipapi.com", "ip2location.io", "api.ip2location.io", "geoip.maxmind.com",
     "ipdata.co", "api.ipdata.co", "ifconfig.co", "api.country.is", "get.geojs.io"}
)  # fmt: skip


class SystemLocationDiscovery(Signature):
    id = "discovery_system_location"
    name = "Looks up where the host is"
    description = (
        "Asks an IP geolocation service (ipinfo.io, ip-api.com, ipapi.co, geoplugin...), runs "
        "timedatectl, or reads /etc/timezone with a text tool: the country or time zone, "
        "which some malware checks before acting (or to avoid certain countries)."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1614",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for name in ctx.dns_names:
            if name.item in GEO_SERVICES:
                yield name.evidence(f"looked up {name.item}")
        for request in ctx.http():
            if (request.item.host or "").lower() in GEO_SERVICES:
                yield request.evidence(f"{request.item.method} {request.item.url}")
        for run in ctx.commands("curl", "wget"):
            if any(s in a for a in run.item.args for s in GEO_SERVICES):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("timedatectl"):
            if not run.item.args or run.item.args[0] in ("status", "show", "list-timezones"):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/etc/timezone",)):
            if ctx.names(found.process) & TEXT_TOOLS:
                yield found.evidence(file_summary(found, "read"))
