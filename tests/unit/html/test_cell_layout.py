"""A cell of the HTML report is laid out by a function (``render.show``) exactly as the
template macro it replaced laid it out, escaping included."""

from __future__ import annotations

import itertools

from jinja2 import Environment, StrictUndefined

from aasee.processing.html.render import show
from aasee.processing.html.tables import Cell

MACRO = """\
{% macro show(c) -%}
{%- if c.href -%}
<a href="{{ c.href }}"{% if c.css %} class="{{ c.css }}"{% endif %}{% if c.title %} \
title="{{ c.title }}"{% endif %}{% if not c.href.startswith('#') %} \
rel="noreferrer noopener external"{% endif %}>{{ c.text }}</a>
{%- elif c.css or c.title -%}
<span{% if c.css %} class="{{ c.css }}"{% endif %}{% if c.title %} title="{{ c.title }}"\
{% endif %}>{{ c.text }}</span>
{%- else -%}
{{ c.text }}
{%- endif -%}
{%- endmacro %}
{{- show(c) -}}"""


def test_cells_are_laid_out_as_the_macro_laid_them_out() -> None:
    environment = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    macro = environment.from_string(MACRO)
    texts = ["", "plain", "<script>\"x\"&'y'</script>", "\u00e9\x00\u202e"]
    hrefs = [None, "", "#process-1", "report/files.written.jsonl", 'x" onclick="y']
    others = [None, "", "mono", '"><b>']
    for text, href, css, title in itertools.product(texts, hrefs, others, others):
        cell = Cell(text=text, href=href, css=css, title=title)
        assert str(show(cell)) == macro.render(c=cell), cell
