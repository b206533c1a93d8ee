"""Rendering a report as one self-contained, offline HTML page, and writing it atomically.

The page has no script at all and a Content-Security-Policy that forbids every script,
fetch, font and frame; even if an escaping bug let sample text become markup, it could not
run or phone home. Every value reaches the template as plain text and Jinja's autoescape
(on for everything) turns it into HTML text.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ... import __version__
from ..atomic import write_atomic
from ..models import SCHEMA_VERSION, Report
from .page import build_page
from .tables import Cell

__all__ = ["CONTENT_SECURITY_POLICY", "render_html", "write_html"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("aasee.processing.html", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["show"] = show
    return environment


def show(c: Cell) -> Markup:
    """One cell: its text, a link when it has an ``href`` (one outside the page opens as an
    external link), a span when it has a class or a title; every value escaped. (A
    function rather than a template macro: a report has thousands of cells.)"""
    text = escape(c.text)
    if not (c.href or c.css or c.title):
        return text
    attributes = ""
    if c.css:
        attributes += f' class="{escape(c.css)}"'
    if c.title:
        attributes += f' title="{escape(c.title)}"'
    if c.href:
        external = "" if c.href.startswith("#") else ' rel="noreferrer noopener external"'
        return Markup(f'<a href="{escape(c.href)}"{attributes}{external}>{text}</a>')
    return Markup(f"<span{attributes}>{text}</span>")


@lru_cache(maxsize=1)
def _stylesheet() -> Markup:
    # The package's own stylesheet, not report data: it is the one thing inserted unescaped.
    text = resources.files(__package__).joinpath("templates", "style.css").read_text("utf-8")
    if "</" in text:
        raise ValueError("style.css must not contain '</'")
    return Markup(text)


def render_html(report: Report) -> str:
    """The report as a complete HTML document."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        page=build_page(report),
        css=_stylesheet(),
        csp=CONTENT_SECURITY_POLICY,
        version=__version__,
        schema_version=SCHEMA_VERSION,
    )


def write_html(report: Report, path: Path) -> None:
    """Write the rendered report to ``path``, replacing it atomically."""
    write_atomic(Path(path), render_html(report))
