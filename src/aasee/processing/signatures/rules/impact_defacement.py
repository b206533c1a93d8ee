"""Defacement: login banners or a web site's front page replaced."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

BANNERS = ("/etc/motd", "/etc/issue", "/etc/issue.net", "/run/motd.dynamic", "/etc/motd.d/*")
WEB_ROOTS = ("/var/www/**", "/srv/www/**", "/srv/http/**", "/usr/share/nginx/html/**",
             "/usr/local/apache2/htdocs/**", "/usr/local/nginx/html/**")  # fmt: skip
FRONT_PAGES = frozenset({"index.html", "index.htm", "index.php", "default.html", "home.html"})


class Defacement(Signature):
    id = "impact_defacement"
    name = "Replaces login banners or a web site's front page"
    description = (
        "Writes /etc/motd, /etc/issue or /etc/issue.net (what every user sees at login), or "
        "the index page under a web root: a message (ransom demand, claim of compromise) "
        "put in front of users. Package installations are not counted."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1491.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(BANNERS):
            if not ctx.installing(found.process) and "pam_motd" not in ctx.names(found.process):
                yield found.evidence(file_summary(found))
        for found in ctx.modified(WEB_ROOTS):
            path = written_path(found.item)
            if posixpath.basename(path).lower() in FRONT_PAGES and not ctx.installing(
                found.process
            ):
                yield found.evidence(file_summary(found))
