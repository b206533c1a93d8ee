"""What the section builders of one page share: the report, the anchors already placed and
how to show a time or a process.

Rows are anchored as they are built; links (process columns, evidence) are made only to
anchors placed before them, so the page never links to a row that was cut off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from ..guest_abi import native_abi
from ..models import Process, Report, ReportPart
from .pointers import anchor
from .tables import MAX_ROWS, Cell, Row, Table
from .textfmt import display

__all__ = ["PageContext", "build_table", "epoch_time", "result_cell", "short_time"]

T = TypeVar("T")


@dataclass
class PageContext:
    report: Report
    placed: set[str] = field(default_factory=set)
    _process_index: dict[str, int] = field(default_factory=dict)
    native_abi: str | None = None
    """The guest's own syscall ABI (processes in another one are marked)."""

    def __post_init__(self) -> None:
        self._process_index = {p.key: i for i, p in enumerate(self.report.processes)}
        self.native_abi = native_abi(self.report.analysis.arch)

    def row(self, tokens: tuple[str | int, ...], cells: list[Cell], css: str | None = None) -> Row:
        """A table row anchored at the pointer ``tokens`` (recorded as placed)."""
        name = anchor(*tokens)
        self.placed.add(name)
        return Row(cells=cells, anchor=name, css=css)

    def place(self, *tokens: str | int) -> str:
        name = anchor(*tokens)
        self.placed.add(name)
        return name

    def href(self, *tokens: str | int) -> str | None:
        name = anchor(*tokens)
        return f"#{name}" if name in self.placed else None

    def part(self, *section: str | int) -> ReportPart | None:
        """Where the whole of the list at ``section`` is kept, if report.json cuts it."""
        return self.report.paged.get(".".join(str(token) for token in section))

    @staticmethod
    def unseen(part: ReportPart | None, present: int) -> int:
        """Entries of a cut list this report does not hold (none when it holds them all)."""
        return max(part.total - present, 0) if part is not None else 0

    def process(self, key: str | None) -> Process | None:
        index = self._process_index.get(key) if key is not None else None
        return self.report.processes[index] if index is not None else None

    def process_anchor(self, key: str) -> str | None:
        index = self._process_index.get(key)
        return anchor("processes", index) if index is not None else None

    def process_cell(self, key: str | None, pid: int | None) -> Cell:
        """``pid comm``, linked to the process in the tree when it is shown there."""
        proc = self.process(key)
        if proc is None:
            return Cell(text="?" if pid is None else str(pid))
        text = display(f"{proc.pid} {proc.comm}", 60)
        name = anchor("processes", self._process_index[proc.key])
        return Cell(text=text, href=f"#{name}" if name in self.placed else None)


def short_time(utc: str | None, monotonic: float | None = None) -> Cell:
    """``HH:MM:SS.mmm`` of a UTC timestamp (full in the tooltip), else guest seconds."""
    if utc:
        try:
            moment = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        except ValueError:
            return Cell(text=display(utc, 40))
        return Cell(text=moment.strftime("%H:%M:%S.%f")[:12], title=display(utc, 40))
    if monotonic is not None:
        return Cell(text=f"{monotonic:.3f} s", title="guest monotonic clock")
    return Cell()


def epoch_time(utc: str | None, epoch: float) -> Cell:
    """A host capture time: its UTC string, else the Unix time read as UTC."""
    if utc:
        return short_time(utc)
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return Cell(text=f"{epoch:.3f}")
    return short_time(moment.isoformat().replace("+00:00", "Z"))


def result_cell(ok: bool | None, error: str | None) -> Cell:
    if ok is False:
        return Cell(text=display(error or "failed", 40), css="bad")
    if ok is True:
        return Cell(text="ok")
    return Cell(text="?", css="muted")


def build_table(
    ctx: PageContext,
    title: str,
    section: tuple[str | int, ...],
    items: Sequence[T],
    columns: Sequence[str],
    cells: Callable[[T], list[Cell]],
    *,
    keep: Callable[[T], bool] | None = None,
    failed: Callable[[T], bool] | None = None,
    collapsed: bool = False,
    note: str | None = None,
) -> Table:
    """A table of ``items`` (those ``keep`` accepts), each row anchored at its pointer
    ``/section/index``; at most :data:`MAX_ROWS` rows, the rest counted. A list report.json
    shows only the start of counts the entries it does not show too, and links its file."""
    table = Table(title=title, columns=columns, collapsed=collapsed, note=note)
    table.anchor = ctx.place(*section, "table", title)
    for index, item in enumerate(items):
        if keep is not None and not keep(item):
            continue
        table.total += 1
        if len(table.rows) < MAX_ROWS:
            css = "failed" if failed is not None and failed(item) else None
            table.rows.append(ctx.row((*section, index), cells(item), css))
    part = ctx.part(*section)
    if part is not None:
        table.part = part.path
        table.total += ctx.unseen(part, len(items))
    return table
