"""Page section for the host-side disk diff: what the run changed on the guest's disk.

Each change is a row anchored at its pointer (``/filesystem/changes/<n>``); the rows of changes
the trace did not see are highlighted: they were made outside the traced processes, or after
the tracer was blinded.
"""

from __future__ import annotations

from ..models import DiskChange, FileSystemDiff
from .context import PageContext
from .tables import MAX_ROWS, Cell, Fact, Table, cell
from .textfmt import display

__all__ = ["disk_facts", "disk_table"]

_CHANGE_CSS = {
    "created": "chg-created",
    "modified": "chg-modified",
    "deleted": "chg-deleted",
    "renamed": "chg-renamed",
    "metadata": "chg-metadata",
}


def disk_facts(diff: FileSystemDiff | None) -> list[Fact]:
    if diff is None:
        return []
    counts = ", ".join(f"{n} {kind}" for kind, n in diff.counts.items() if n) or "none"
    facts = [
        Fact("changes", Cell(text=counts)),
        Fact(
            "not seen by the trace",
            Cell(text=str(diff.untraced), css="bad" if diff.untraced else None),
        ),
    ]
    if diff.ignored:
        facts.append(Fact("ignored as guest noise", Cell(text=str(diff.ignored), css="muted")))
    if diff.overlay_bytes is not None:
        facts.append(Fact("written to the disk", Cell(text=f"{diff.overlay_bytes} bytes")))
    for name, state in sorted(diff.journal.items()):
        facts.append(Fact(f"journal ({display(name, 20)})", cell(state, 200)))
    if diff.seconds is not None:
        method = f" ({display(diff.method, 20)})" if diff.method else ""
        facts.append(Fact("diff took", Cell(text=f"{diff.seconds:.2f} s{method}")))
    if not diff.complete:
        facts.append(
            Fact("complete", Cell(text="no: see the errors below and the warnings", css="warn"))
        )
    return facts


def _path(change: DiskChange) -> Cell:
    if change.path is None:
        return Cell(text=f"(no name: inode {change.inode})", css="mono muted")
    text = display(change.path, 300)
    if change.target is not None:
        text += " → " + display(change.target, 200)
    return Cell(text=text, css="mono")


def _type(change: DiskChange) -> str:
    return f"{change.type} {change.device}" if change.device else change.type


def _what(change: DiskChange) -> str:
    before = change.before
    parts = []
    if change.change == "renamed" and before is not None and before.path is not None:
        parts.append("from " + display(before.path, 200))
    for name in change.changed:
        if before is not None and name == "mode":
            parts.append(f"mode {before.mode} → {change.mode}")
        elif before is not None and name == "uid":
            parts.append(f"uid {before.uid} → {change.uid}")
        elif before is not None and name == "gid":
            parts.append(f"gid {before.gid} → {change.gid}")
        elif before is not None and name == "size":
            parts.append(f"size {before.size} → {change.size}")
        elif before is not None and name == "attributes":
            parts.append(f"attributes '{before.attributes}' → '{change.attributes}'")
        elif before is not None and name == "target":
            parts.append(f"target was {display(before.target or '', 120)}")
        else:
            parts.append(name)
    return "; ".join(parts)


def _traced(change: DiskChange) -> Cell:
    if change.sample:
        return Cell(text="the sample (placed by the agent)", css="muted")
    if change.traced:
        return Cell(text="yes: " + ", ".join(change.traced_ops))
    return Cell(text="NOT TRACED", css="bad")


def _hash(change: DiskChange) -> Cell:
    if change.sha256 is None:
        return Cell(text="-")
    title = f"stored as disk_diff/{change.stored_as}" if change.stored_as else "not stored"
    return Cell(text=change.sha256, css="mono hash", title=title)


def disk_table(ctx: PageContext) -> Table | None:
    diff = ctx.report.filesystem
    if diff is None:
        return None
    table = Table(
        title="Changes",
        columns=[
            "change",
            "path",
            "type",
            "size",
            "mode",
            "owner",
            "what changed",
            "traced",
            "SHA-256",
            "notes",
        ],
        note="The run's disk compared with its base by the host after the VM was gone; "
        "changes the trace did not see are highlighted.",
    )
    table.anchor = ctx.place("filesystem", "changes", "table")
    # Untraced changes first: they are what this section exists for.
    order = sorted(
        range(len(diff.changes)),
        key=lambda i: (diff.changes[i].traced or diff.changes[i].sample, i),
    )
    for index in order:
        change = diff.changes[index]
        table.total += 1
        if len(table.rows) >= MAX_ROWS:
            continue
        untraced = not change.traced and not change.sample
        table.rows.append(
            ctx.row(
                ("filesystem", "changes", index),
                [
                    Cell(text=change.change, css=_CHANGE_CSS[change.change]),
                    _path(change),
                    Cell(text=_type(change)),
                    Cell(text=str(change.size)),
                    Cell(text=change.mode, css="mono"),
                    Cell(text=f"{change.uid}:{change.gid}"),
                    cell(_what(change), 400),
                    _traced(change),
                    _hash(change),
                    cell("; ".join(change.notes), 400, "muted"),
                ],
                "untraced" if untraced else None,
            )
        )
    return table
