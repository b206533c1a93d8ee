"""Browser secrets read by another program: saved logins, their keys, and cookies."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import BROWSERS, file_summary
from ..models import Evidence
from ..query import ReportIndex

PROFILES = (
    "/root/.mozilla/firefox/**", "/home/*/.mozilla/firefox/**", "/root/.config/google-chrome/**",
    "/home/*/.config/google-chrome/**", "/root/.config/chromium/**", "/home/*/.config/chromium/**",
    "/root/.config/BraveSoftware/**", "/home/*/.config/BraveSoftware/**",
    "/root/.config/microsoft-edge/**", "/home/*/.config/microsoft-edge/**",
    "/root/.config/opera/**", "/home/*/.config/opera/**", "/root/.config/vivaldi/**",
    "/home/*/.config/vivaldi/**",
)  # fmt: skip
SECRETS = frozenset(
    {"logins.json", "key4.db", "key3.db", "signons.sqlite", "cookies.sqlite", "Login Data",
     "Login Data For Account", "Cookies", "Web Data", "Local State"}
)  # fmt: skip


class BrowserData(Signature):
    id = "credential_browser_data"
    name = "Reads saved browser passwords or cookies"
    description = (
        "A program other than the browser opens a Firefox or Chromium-family profile's saved "
        "logins (logins.json, Login Data), the keys that decrypt them (key4.db, Local "
        "State) or the cookie store: passwords and live sessions stolen."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1555.003", "T1539")

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.files("read", PROFILES):
            if found.item.path.rsplit("/", 1)[-1] not in SECRETS:
                continue
            if not ctx.names(found.process) & BROWSERS:
                yield found.evidence(file_summary(found, "read"))
