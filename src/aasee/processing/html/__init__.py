"""The HTML report: one self-contained, offline, script-free page rendered from a report.

``render`` holds the Jinja environment and the atomic writer; ``page`` builds the page's
data from the report section by section (``behaviour_view``, ``network_view``,
``static_view``, ``signatures_view``), each string passed through ``textfmt`` and each
table cut by ``tables``; ``evidence`` and ``pointers`` link signature evidence to the rows
it names.
"""

from .render import CONTENT_SECURITY_POLICY, render_html, write_html

__all__ = ["CONTENT_SECURITY_POLICY", "render_html", "write_html"]
