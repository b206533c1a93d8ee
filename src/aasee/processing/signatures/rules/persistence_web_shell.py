"""Web shells: a server-side script written under a web server's document root."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ..base import Signature
from ..facts import file_summary, written_path
from ..models import Evidence
from ..query import ReportIndex

WEB_ROOTS = (
    "/var/www/**", "/srv/www/**", "/srv/http/**", "/usr/share/nginx/**",
    "/usr/local/nginx/html/**", "/usr/local/apache2/htdocs/**", "/var/lib/tomcat*/webapps/**",
    "/opt/tomcat*/webapps/**", "/usr/share/tomcat*/webapps/**", "/var/lib/jetty*/webapps/**",
    "/opt/lampp/htdocs/**", "/usr/local/www/**", "/home/*/public_html/**",
)  # fmt: skip
SERVER_SCRIPTS = (
    ".php", ".php3", ".php4", ".php5", ".php7", ".phtml", ".phar", ".pht", ".jsp", ".jspx",
    ".jspf", ".asp", ".aspx", ".ashx", ".asmx", ".cfm", ".cgi", ".pl", ".war", ".shtml",
)  # fmt: skip


class WebShell(Signature):
    id = "persistence_web_shell"
    name = "Writes a server-side script under a web root"
    description = (
        "Writes (or moves into place) a .php, .jsp, .asp(x), .cgi or similar file, or a .war "
        "archive, under a web server's document root (/var/www, nginx and Apache htdocs, "
        "Tomcat webapps...): a web shell lets anyone who knows its URL run commands on the "
        "host. Package installations are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1505.003",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.modified(WEB_ROOTS):
            path = written_path(found.item)
            name = posixpath.basename(path).lower()
            if name.endswith(SERVER_SCRIPTS) and not ctx.installing(found.process):
                yield found.evidence(file_summary(found))
