"""Browser information discovered: bookmarks and history searched for or read by another
program."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import BROWSERS, command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

NAME_OPTIONS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
                          "-regex", "-iregex"})  # fmt: skip
BROWSER_NAMES = re.compile(
    r"places\.sqlite|bookmarks|\bhistory\b|\.mozilla|firefox|google-chrome|chromium|brave|"
    r"favicons|top sites",
    re.IGNORECASE,
)
PROFILES = ("/root/.mozilla/**", "/home/*/.mozilla/**", "/root/.config/google-chrome/**",
            "/home/*/.config/google-chrome/**", "/root/.config/chromium/**",
            "/home/*/.config/chromium/**", "/root/.config/BraveSoftware/**",
            "/home/*/.config/BraveSoftware/**")  # fmt: skip
BROWSING = frozenset({"places.sqlite", "Bookmarks", "History", "favicons.sqlite", "Top Sites"})


class BrowserInformationDiscovery(Signature):
    id = "discovery_browser_information"
    name = "Looks at browser bookmarks and history"
    description = (
        "Runs find or locate for browser profiles, bookmarks or history (places.sqlite, "
        "Bookmarks), or a program other than the browser reads them: the sites and internal "
        "services the user visits."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1217",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("find"):
            args = run.item.args
            patterns = [b for a, b in zip(args, args[1:], strict=False) if a in NAME_OPTIONS]
            if any(BROWSER_NAMES.search(p) for p in patterns):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("locate", "mlocate", "plocate"):
            if any(BROWSER_NAMES.search(a) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", PROFILES):
            name = found.item.path.rsplit("/", 1)[-1]
            if name in BROWSING and not ctx.names(found.process) & BROWSERS:
                yield found.evidence(file_summary(found, "read"))
