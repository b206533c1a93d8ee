"""The page's building blocks: cells, rows and tables already cut to size and made text.

Section builders fill these from the report; one template macro renders every table. A cell
holds plain text (never markup) and, at most, a link whose target the code built itself: an
anchor in this page or an ATT&CK technique page for a validated technique id. A table cut
short in report.json links the file beside it holding the whole list (``report/<list>.jsonl``,
a path the report writer validated).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .textfmt import display

__all__ = ["MAX_ROWS", "Cell", "Fact", "Row", "Table", "cap", "cell", "link"]

MAX_ROWS = 500
"""Rows any one table shows; the rest are counted."""

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    text: str = ""
    href: str | None = None
    css: str | None = None
    """A class name from the page's own stylesheet (badges, monospace, muted)."""
    title: str | None = None


@dataclass(frozen=True)
class Row:
    cells: Sequence[Cell]
    anchor: str | None = None
    css: str | None = None


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Row] = field(default_factory=list)
    total: int = 0
    anchor: str | None = None
    note: str | None = None
    collapsed: bool = False
    """Shown inside a closed <details> (long lists an analyst rarely needs first)."""
    part: str | None = None
    """The file beside the report holding the whole list, when report.json shows its start."""

    @property
    def hidden(self) -> int:
        return max(self.total - len(self.rows), 0)


@dataclass(frozen=True)
class Fact:
    """A label and value of a key/value list (summary, headers)."""

    label: str
    value: Cell


def cell(value: object, limit: int = 200, css: str | None = None) -> Cell:
    return Cell(text=display(value, limit), css=css)


def link(value: object, href: str | None, limit: int = 200, css: str | None = None) -> Cell:
    return Cell(text=display(value, limit), href=href, css=css)


def cap(items: Iterable[T], limit: int = MAX_ROWS) -> Iterator[tuple[int, T]]:
    """``(index, item)`` for the first ``limit`` items, index being the item's position in
    the full list (the pointer a row is anchored at)."""
    for index, item in enumerate(items):
        if index >= limit:
            return
        yield index, item
