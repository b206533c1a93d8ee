"""Short human-readable summary of a report, for the command line.

Owns choosing what an analyst wants at a glance (whether the sample ran at all, the
architecture, process tree, files changed, the host-side disk diff's counts, network
endpoints, anti-debugging, warnings) and rendering it as plain lines. Every sample-controlled
string is passed through :func:`~aasee.processing.text.printable`; the lines contain no
markup, so a renderer such as rich must print them with markup disabled.
"""

from __future__ import annotations

from typing import Any

from aasee.arch import DEFAULT_ARCH

from .guest_abi import native_abi
from .models import ProcessTreeNode, Report
from .text import printable

__all__ = ["MAX_ITEMS", "summarize", "summary_sections"]

MAX_ITEMS = 50
"""Entries shown per section before the rest is counted."""

PSEUDO_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/tty",
        "/dev/console",
        "/dev/ptmx",
        "/dev/random",
        "/dev/urandom",
    }
)
"""Writes to these are noise at a glance (shell redirections); the report keeps them."""


def _bounded(lines: list[str], unseen: int = 0, part: str | None = None) -> list[str]:
    """At most ``MAX_ITEMS`` lines; then how many more there are (``unseen``: entries of a
    list report.json shows the start of, kept whole in file ``part``)."""
    shown = lines[:MAX_ITEMS]
    more = len(lines) - len(shown) + unseen
    if more > 0:
        shown.append(f"… and {more} more" + (f" (all in {part})" if part else ""))
    return shown


def _unseen(report: Report, *names: str) -> tuple[int, str | None]:
    """Entries of the lists ``names`` that report.json cut and this report does not hold,
    and the file of the first of them that was cut."""
    unseen = 0
    path = None
    for name in names:
        part = report.paged.get(name)
        if part is None:
            continue
        value: Any = report
        for key in name.split("."):
            value = getattr(value, key, None)
        present = len(value) if isinstance(value, (list, dict)) else 0
        unseen += max(part.total - present, 0)
        path = path or part.path
    return unseen, path


def _argv(argv: list[str], truncated: bool) -> str:
    text = " ".join(printable(arg, 80) for arg in argv)
    return text + " …" if truncated else text


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _times(count: int) -> str:
    return f" x{count}" if count > 1 else ""


def _process_lines(report: Report) -> list[str]:
    details = {p.key: p for p in report.processes}
    native = native_abi(report.analysis.arch)
    lines: list[str] = []
    # Iterative walk: the tree is bounded in depth, but a flat loop costs nothing.
    stack: list[tuple[ProcessTreeNode, int]] = [(n, 0) for n in reversed(report.process_tree)]
    while stack:
        node, depth = stack.pop()
        proc = details.get(node.key)
        image = printable(node.image or f"[{node.comm}]", 120)
        line = f"{'  ' * depth}{node.pid} {image}"
        if proc is not None:
            if proc.argv:
                line += f"  argv: {_argv(proc.argv, proc.argv_truncated)}"
            if proc.exit_signal is not None:
                line += f"  killed by {proc.exit_signal_name or proc.exit_signal}"
            elif proc.exit_code is not None:
                line += f"  exit {proc.exit_code}"
            if proc.threads:
                line += f"  ({len(proc.threads)} threads)"
            if proc.abi is not None and proc.abi != native:
                line += f"  [{printable(proc.abi, 20)} ABI]"
        if node.truncated:
            line += "  (deeper descendants not shown)"
        lines.append(line)
        stack.extend((child, depth + 1) for child in reversed(node.children))
    part = report.paged.get("process_tree")
    unseen = max(part.total - len(lines), 0) if part is not None else 0
    return _bounded(lines, unseen, part.path if part is not None else None)


def _failed(ok: bool | None, error: str | None) -> str:
    return f" [failed: {error or 'error'}]" if ok is False else ""


def _architecture(report: Report) -> list[str]:
    """The guest's architecture and the sample's, when they say more than the default does.

    Shown when the guest is not the default one, when the sample's architecture was recorded
    or when a process ran in another syscall ABI than the guest's own.
    """
    analysis = report.analysis
    native = native_abi(analysis.arch)
    others = sorted({p.abi for p in report.processes if p.abi is not None and p.abi != native})
    if analysis.arch == DEFAULT_ARCH and analysis.sample_arch is None and not others:
        return []
    line = f"guest {printable(analysis.arch, 40)}"
    if analysis.guest_image:
        line += f" ({printable(analysis.guest_image, 80)})"
    lines = [line]
    if analysis.sample_arch is not None:
        lines.append(f"sample {printable(analysis.sample_arch, 120)}")
    if others:
        lines.append(
            "processes in another syscall ABI: " + ", ".join(printable(a, 20) for a in others)
        )
    return lines


def _disk_line(report: Report) -> list[str]:
    """One line of counts of the host-side disk diff, untraced changes first."""
    diff = report.filesystem
    if diff is None:
        return []
    counts = ", ".join(f"{n} {kind}" for kind, n in diff.counts.items() if n) or "no changes"
    line = f"{diff.untraced} not traced; {counts}"
    if diff.ignored:
        line += f"; {diff.ignored} ignored as guest noise"
    if not diff.complete:
        line += " (incomplete)"
    return [line]


def summary_sections(report: Report) -> list[tuple[str, list[str]]]:
    """Titled groups of lines; empty sections are left out."""
    files = report.files
    network = report.network
    created = {(c.path, c.process) for c in files.created}
    sections: list[tuple[str, list[str]]] = []
    analysis = report.analysis
    if not analysis.executed:
        reason = analysis.not_executed_reason or "no reason recorded"
        sections.append(
            (
                "Sample not executed",
                [
                    printable(reason, 300),
                    "nothing here shows its behaviour: the run is neither scored nor benign",
                ],
            )
        )
    if report.verdict == "not executed":
        sections.append(("Verdict: not executed (no score)", []))
    elif report.verdict is not None:
        tactics = [
            f"{tactic.name}: {', '.join(tactic.techniques)}" for tactic in report.attack.tactics
        ]
        sections.append((f"Verdict: {report.verdict} (score {report.score}/10)", tactics))
    architecture = _architecture(report)
    if architecture:
        sections.append(("Architecture", architecture))
    signatures = [
        f"[{match.severity}] {match.id}: {printable(match.name, 120)}"
        f"{'  ' + ', '.join(match.techniques) if match.techniques else ''}"
        f"{_times(match.count)}"
        for match in report.signatures
    ]
    if signatures:
        sections.append(("Signatures", _bounded(signatures)))
    lists = {
        "Files written": ("files.written",),
        "Files deleted": ("files.deleted",),
        "Files renamed": ("files.renamed",),
        "Permissions changed": ("files.chmod",),
        "Links created": ("files.links",),
        "Dropped files collected": ("dropped",),
        "Network": ("network.connections", "network.udp", "network.binds", "network.dns"),
        "Network traffic (host-side capture)": (
            "network.dns_traffic",
            "network.http",
            "network.tls",
        ),
        "Debugger checks": ("syscalls.ptrace",),
    }
    sections.append(("Processes", _process_lines(report)))

    written = [
        f"{printable(w.path)}{' (created)' if (w.path, w.process) in created else ''}"
        f"  pid {w.pid}{_times(w.count)}{_failed(w.ok, w.error)}"
        for w in files.written
        if w.path not in PSEUDO_DEVICES
    ]
    deleted = [
        f"{printable(d.path)}  pid {d.pid}{' (rmdir)' if d.op == 'rmdir' else ''}"
        f"{_failed(d.ok, d.error)}"
        for d in files.deleted
    ]
    renamed = [
        f"{printable(r.src)} -> {printable(r.dst)}  pid {r.pid}{_failed(r.ok, r.error)}"
        for r in files.renamed
    ]
    chmod = [
        f"{printable(c.path) if c.path is not None else f'fd {c.fd}'} {c.mode}  pid {c.pid}"
        f"{_failed(c.ok, c.error)}"
        for c in files.chmod
    ]
    links = [
        f"{printable(link.path)} -> {printable(link.target)} ({link.kind})  pid {link.pid}"
        for link in files.links
    ]
    endpoints = [
        f"{c.proto} {_endpoint(c.dst_ip, c.dst_port)}  {c.result or 'result unknown'}"
        f"  pid {c.pid}{_times(c.count)}"
        for c in network.connections
    ]
    endpoints += [
        f"udp {_endpoint(u.dst_ip, u.dst_port)}  {u.bytes} bytes  pid {u.pid}{_times(u.count)}"
        for u in network.udp
    ]
    endpoints += [f"bind {b.proto} {_endpoint(b.ip, b.port)}  pid {b.pid}" for b in network.binds]
    endpoints += [f"dns query to {_endpoint(d.server, d.port)}  pid {d.pid}" for d in network.dns]
    traffic = [
        f"dns {printable(d.name)} {d.type}"
        f"{' -> ' + ', '.join(printable(a.data, 60) for a in d.answers[:3]) if d.answers else ''}"
        f"  pid {d.pid if d.pid is not None else '?'}"
        for d in network.dns_traffic
    ]
    traffic += [
        f"http {h.method} {printable(h.url, 160)}  ua {printable(h.user_agent or '-', 80)}"
        f"  {h.body_size} bytes  pid {h.pid if h.pid is not None else '?'}"
        for h in network.http
    ]
    traffic += [
        f"tls sni {printable(t.sni or '-')}  to {_endpoint(t.dst_ip, t.dst_port)}"
        f"  pid {t.pid if t.pid is not None else '?'}"
        for t in network.tls
    ]
    dropped = [
        f"{printable(d.path)}  {d.size} bytes  sha256 {d.sha256 or '-'}"
        f"{' (truncated)' if d.truncated else ''}{'  ' + d.error if d.error else ''}"
        for d in report.dropped
    ]
    anti = [
        f"ptrace {p.request_name or p.request}  pid {p.pid}{_failed(p.ok, p.error)}"
        for p in report.syscalls.ptrace
    ]
    disk = _disk_line(report)
    for title, lines in (
        ("Files written", written),
        ("Files deleted", deleted),
        ("Files renamed", renamed),
        ("Permissions changed", chmod),
        ("Links created", links),
        ("Dropped files collected", dropped),
        ("Disk changes (host-side diff)", disk),
        ("Network", endpoints),
        ("Network traffic (host-side capture)", traffic),
        ("Debugger checks", anti),
        ("Warnings", [printable(e, 300) for e in report.errors]),
    ):
        unseen, part = _unseen(report, *lists.get(title, ()))
        if lines or unseen:
            sections.append((title, _bounded(lines, unseen, part)))
    return sections


def summarize(report: Report) -> list[str]:
    """The summary as plain lines: a title line per section, its entries indented."""
    lines: list[str] = []
    for title, entries in summary_sections(report):
        lines.append(f"{title}:")
        lines.extend(f"  {entry}" for entry in entries)
    return lines
