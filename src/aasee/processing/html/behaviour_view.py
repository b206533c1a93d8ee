"""Page sections for what the sample's processes did: the process tree, files, debugger
checks, system call counts and program output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..models import Output, ProcessTreeNode
from ..summary import PSEUDO_DEVICES
from .context import PageContext, build_table, result_cell, short_time
from .tables import MAX_ROWS, Cell, Table, cell
from .textfmt import display, display_block

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "OUTPUT_SHOWN",
    "OutputBlock",
    "TreeItem",
    "file_tables",
    "output_blocks",
    "process_tree",
    "syscall_tables",
]

MAX_NODES = 500
MAX_DEPTH = 40
"""Nesting shown in the tree; deeper processes are still in the processes list."""
OUTPUT_SHOWN = 16 * 1024


@dataclass(frozen=True)
class TreeItem:
    """One step of the flattened tree: open a node with children, a leaf, or close a node."""

    kind: Literal["open", "leaf", "close"]
    cells: Sequence[Cell] = ()
    anchor: str | None = None


def _argv(argv: list[str], truncated: bool) -> str:
    text = " ".join(display(arg, 120) for arg in argv[:64])
    if truncated or len(argv) > 64:
        text += " …"
    return text


def _node_cells(ctx: PageContext, node: ProcessTreeNode, deeper_cut: bool) -> list[Cell]:
    proc = ctx.process(node.key)
    cells = [
        Cell(text=str(node.pid), css="pid"),
        Cell(text=display(node.image or f"[{node.comm}]", 160), css="mono"),
    ]
    argv = proc.argv if proc is not None else node.argv
    if argv:
        cells.append(Cell(text=_argv(argv, proc.argv_truncated if proc else False), css="argv"))
    if proc is not None:
        if proc.exit_signal is not None:
            name = proc.exit_signal_name or str(proc.exit_signal)
            cells.append(Cell(text=f"killed by {display(name, 20)}", css="bad"))
        elif proc.exit_code is not None:
            cells.append(Cell(text=f"exit {proc.exit_code}", css="muted"))
        if proc.threads:
            cells.append(Cell(text=f"{len(proc.threads)} threads", css="muted"))
        if len(proc.execs) > 1:
            cells.append(Cell(text=f"{len(proc.execs)} execs", css="muted"))
        if proc.abi is not None and proc.abi != ctx.native_abi:
            cells.append(Cell(text=f"{display(proc.abi, 20)} ABI", css="warn"))
        if proc.cwd:
            cells.append(Cell(text=f"cwd {display(proc.cwd, 80)}", css="muted"))
        cells.append(short_time(proc.start_utc, proc.start))
    if node.truncated or deeper_cut:
        cells.append(Cell(text="deeper descendants not shown", css="warn"))
    return cells


def process_tree(ctx: PageContext) -> tuple[list[TreeItem], int]:
    """The tree as open/leaf/close steps (no recursion in the template), and how many
    nodes were left out."""
    items: list[TreeItem] = []
    shown = 0
    total = 0
    # (node, depth) to visit, or None meaning "close the node opened before its children".
    stack: list[tuple[ProcessTreeNode, int] | None] = [
        (n, 0) for n in reversed(ctx.report.process_tree)
    ]
    while stack:
        entry = stack.pop()
        if entry is None:
            items.append(TreeItem(kind="close"))
            continue
        node, depth = entry
        total += 1
        if shown >= MAX_NODES:
            stack.extend((child, depth + 1) for child in reversed(node.children))
            continue
        shown += 1
        name = ctx.process_anchor(node.key)
        if name is not None:
            if name in ctx.placed:
                name = None  # a key listed twice (a hand-edited report): anchor it once
            else:
                ctx.placed.add(name)
        cut = depth + 1 >= MAX_DEPTH and bool(node.children)
        if node.children and not cut:
            items.append(TreeItem(kind="open", cells=_node_cells(ctx, node, False), anchor=name))
            stack.append(None)
            stack.extend((child, depth + 1) for child in reversed(node.children))
        else:
            items.append(TreeItem(kind="leaf", cells=_node_cells(ctx, node, cut), anchor=name))
            if cut:
                total += _count(node.children)
    # Nodes of a tree report.json cuts that this report does not hold are left out too.
    total += ctx.unseen(ctx.part("process_tree"), total)
    return items, total - shown


def _count(nodes: list[ProcessTreeNode]) -> int:
    count = 0
    stack = list(nodes)
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    return count


def file_tables(ctx: PageContext) -> list[Table]:
    files = ctx.report.files
    created = {(c.path, c.process) for c in files.created}
    proc = ctx.process_cell
    tables = [
        build_table(
            ctx,
            "Files written",
            ("files", "written"),
            files.written,
            ["path", "flags", "count", "process", "time", "result"],
            lambda w: [
                cell(w.path, 300, "mono"),
                cell(w.flags + (" (created)" if (w.path, w.process) in created else ""), 80),
                Cell(text=str(w.count)),
                proc(w.process, w.pid),
                short_time(w.time_utc, w.time),
                result_cell(w.ok, w.error),
            ],
            keep=lambda w: w.path not in PSEUDO_DEVICES,
            failed=lambda w: w.ok is False,
        ),
        build_table(
            ctx,
            "Files created",
            ("files", "created"),
            files.created,
            ["path", "mode", "exclusive", "process", "time", "result"],
            lambda c: [
                cell(c.path, 300, "mono"),
                cell(c.mode or "", 12),
                Cell(text="yes" if c.exclusive else ""),
                proc(c.process, c.pid),
                short_time(c.time_utc, c.time),
                result_cell(c.ok, c.error),
            ],
            failed=lambda c: c.ok is False,
        ),
        build_table(
            ctx,
            "Files deleted",
            ("files", "deleted"),
            files.deleted,
            ["path", "op", "process", "time", "result"],
            lambda d: [
                cell(d.path, 300, "mono"),
                Cell(text=d.op),
                proc(d.process, d.pid),
                short_time(d.time_utc, d.time),
                result_cell(d.ok, d.error),
            ],
            failed=lambda d: d.ok is False,
        ),
        build_table(
            ctx,
            "Files renamed",
            ("files", "renamed"),
            files.renamed,
            ["from", "to", "process", "time", "result"],
            lambda r: [
                cell(r.src, 250, "mono"),
                cell(r.dst, 250, "mono"),
                proc(r.process, r.pid),
                short_time(r.time_utc, r.time),
                result_cell(r.ok, r.error),
            ],
            failed=lambda r: r.ok is False,
        ),
        build_table(
            ctx,
            "Permissions changed",
            ("files", "chmod"),
            files.chmod,
            ["path", "mode", "call", "process", "time", "result"],
            lambda c: [
                cell(c.path if c.path is not None else f"fd {c.fd}", 300, "mono"),
                cell(c.mode, 12),
                Cell(text=c.op),
                proc(c.process, c.pid),
                short_time(c.time_utc, c.time),
                result_cell(c.ok, c.error),
            ],
            failed=lambda c: c.ok is False,
        ),
        build_table(
            ctx,
            "Directories created",
            ("files", "mkdir"),
            files.mkdir,
            ["path", "mode", "process", "time", "result"],
            lambda m: [
                cell(m.path, 300, "mono"),
                cell(m.mode or "", 12),
                proc(m.process, m.pid),
                short_time(m.time_utc, m.time),
                result_cell(m.ok, m.error),
            ],
            failed=lambda m: m.ok is False,
        ),
        build_table(
            ctx,
            "Links created",
            ("files", "links"),
            files.links,
            ["path", "target", "kind", "process", "time", "result"],
            lambda link: [
                cell(link.path, 250, "mono"),
                cell(link.target, 250, "mono"),
                Cell(text=link.kind),
                proc(link.process, link.pid),
                short_time(link.time_utc, link.time),
                result_cell(link.ok, link.error),
            ],
            failed=lambda link: link.ok is False,
        ),
        build_table(
            ctx,
            "Writes to pseudo-devices",
            ("files", "written"),
            files.written,
            ["path", "flags", "count", "process", "result"],
            lambda w: [
                cell(w.path, 60, "mono"),
                cell(w.flags, 80),
                Cell(text=str(w.count)),
                proc(w.process, w.pid),
                result_cell(w.ok, w.error),
            ],
            keep=lambda w: w.path in PSEUDO_DEVICES,
            collapsed=True,
            note="/dev/null and similar: usually shell redirections",
        ),
        build_table(
            ctx,
            "Files read",
            ("files", "read"),
            files.read,
            ["path", "flags", "count", "process", "result"],
            lambda r: [
                cell(r.path, 300, "mono"),
                cell(r.flags, 80),
                Cell(text=str(r.count)),
                proc(r.process, r.pid),
                result_cell(r.ok, r.error),
            ],
            failed=lambda r: r.ok is False,
            collapsed=True,
        ),
        build_table(
            ctx,
            "Directories opened",
            ("files", "directories"),
            files.directories,
            ["path", "count", "process", "result"],
            lambda d: [
                cell(d.path, 300, "mono"),
                Cell(text=str(d.count)),
                proc(d.process, d.pid),
                result_cell(d.ok, d.error),
            ],
            failed=lambda d: d.ok is False,
            collapsed=True,
        ),
    ]
    return [t for t in tables if t.total]


def syscall_tables(ctx: PageContext) -> list[Table]:
    syscalls = ctx.report.syscalls
    ptrace = build_table(
        ctx,
        "Debugger checks (ptrace)",
        ("syscalls", "ptrace"),
        syscalls.ptrace,
        ["request", "target", "process", "time", "result"],
        lambda p: [
            cell(p.request_name or p.request, 40),
            Cell(text="" if p.target is None else str(p.target)),
            ctx.process_cell(p.process, p.pid),
            short_time(p.time_utc, p.time),
            result_cell(p.ok, p.error),
        ],
    )
    counts = Table(
        title="System calls",
        columns=["system call", "count"],
        collapsed=True,
        note=f"{syscalls.total} system call entries in the raw trace",
    )
    counts.anchor = ctx.place("syscalls", "counts")
    ranked = sorted(syscalls.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    counts.total = len(ranked)
    for name, count in ranked[:MAX_ROWS]:
        counts.rows.append(
            ctx.row(("syscalls", "counts", name), [cell(name, 40, "mono"), Cell(text=str(count))])
        )
    return [t for t in (ptrace, counts) if t.total]


@dataclass(frozen=True)
class OutputBlock:
    title: str
    text: str
    note: str
    anchor: str


def output_blocks(ctx: PageContext) -> list[OutputBlock]:
    output: Output = ctx.report.output
    blocks = []
    for stream, text, size, cut in (
        ("stdout", output.stdout, output.stdout_bytes, output.stdout_truncated),
        ("stderr", output.stderr, output.stderr_bytes, output.stderr_truncated),
    ):
        if not text and not size:
            continue
        note = f"{size} bytes written" + ("; the report keeps only the start" if cut else "")
        blocks.append(
            OutputBlock(
                title=stream,
                text=display_block(text, OUTPUT_SHOWN),
                note=note,
                anchor=ctx.place("output", stream),
            )
        )
    return blocks
