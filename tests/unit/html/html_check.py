"""Parsing a rendered report back with the standard library's HTML parser, to check what
elements and attributes the page really contains (not what its source text looks like)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    "html head meta title style body header h1 h2 h3 p span nav a main section div dl dt dd "
    "table thead tbody tr th td details summary ul ol li br pre strong footer".split()
)
ALLOWED_ATTRIBUTES = frozenset(
    "href id class title rel open lang charset http-equiv content name".split()
)
SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")
SAFE_CLASS = re.compile(r"[a-z0-9 _-]+")
SAFE_HREF = re.compile(r"#[A-Za-z0-9_-]+|https://attack\.mitre\.org/techniques/T[0-9/]+/")


@dataclass
class Parsed:
    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def text_content(self) -> str:
        return "".join(self.text)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.result = Parsed()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        assert len(values) == len(attrs), f"duplicate attribute on <{tag}>: {attrs}"
        self.result.tags.append((tag, values))
        if "id" in values and values["id"] is not None:
            self.result.ids[values["id"]] = self.result.ids.get(values["id"], 0) + 1
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.result.text.append(data)


def parse(html: str) -> Parsed:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.result


def assert_inert(html: str) -> Parsed:
    """The page holds only the elements and attributes the templates write, with safe ids,
    classes and links: nothing a report string could have added."""
    page = parse(html)
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, f"unexpected element <{tag}> {attrs}"
        for name, value in attrs.items():
            assert name in ALLOWED_ATTRIBUTES, f"unexpected attribute {name}={value!r} on <{tag}>"
            if name == "id":
                assert value is not None and SAFE_ID.fullmatch(value), value
            if name == "class":
                assert value is not None and SAFE_CLASS.fullmatch(value), value
            if name == "href":
                assert value is not None and SAFE_HREF.fullmatch(value), value
            if name in ("http-equiv", "content", "charset", "name"):
                assert tag == "meta", f"{name} on <{tag}>"
    duplicates = {k: n for k, n in page.ids.items() if n > 1}
    assert not duplicates, duplicates
    assert len(page.all("style")) == 1
    assert len(page.all("meta")) == 5
    return page
