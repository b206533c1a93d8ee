"""Browser extensions installed behind the browser's back: files written into a profile's
extension directory, or an extension forced by policy, by a program that is not the
browser."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import BROWSERS, file_summary
from ..models import Evidence
from ..query import ReportIndex

EXTENSION_PATHS = (
    "/root/.mozilla/firefox/*/extensions/**", "/home/*/.mozilla/firefox/*/extensions/**",
    "/root/.config/google-chrome/*/Extensions/**", "/home/*/.config/google-chrome/*/Extensions/**",
    "/root/.config/chromium/*/Extensions/**", "/home/*/.config/chromium/*/Extensions/**",
    "/root/.config/BraveSoftware/*/*/Extensions/**",
    "/home/*/.config/BraveSoftware/*/*/Extensions/**",
    "/root/.config/microsoft-edge/*/Extensions/**",
    "/home/*/.config/microsoft-edge/*/Extensions/**",
    "/usr/share/chromium/extensions/*", "/opt/google/chrome/extensions/*",
    "/usr/share/google-chrome/extensions/*", "/etc/chromium/policies/managed/*",
    "/etc/opt/chrome/policies/managed/*", "/etc/firefox/policies/*",
    "/usr/lib/firefox*/distribution/**", "/usr/lib/firefox*/browser/extensions/**",
)  # fmt: skip


class BrowserExtension(Signature):
    id = "persistence_browser_extension"
    name = "Installs a browser extension"
    description = (
        "A program other than the browser writes into a Firefox, Chrome, Chromium, Brave or "
        "Edge profile's extension directory, the system-wide extension directories, or a "
        "policy forcing extensions: code that runs in the browser with access to pages, "
        "cookies and what is typed. Package installations are not counted."
    )
    severity = "medium"
    category = "persistence"
    techniques = ("T1176.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(EXTENSION_PATHS):
            if ctx.names(found.process) & BROWSERS or ctx.installing(found.process):
                continue
            yield found.evidence(file_summary(found))
