"""Shapes a ``report.json`` (a plain dict) into what the analysis page template renders.

The report is read defensively: any section may be missing or of the wrong type (an older
schema, a partial report), and every string in it may be sample-controlled. Nothing here
marks text as safe; escaping is left to Jinja's autoescape. Bounds keep a hostile report
(a fork bomb's tree, a million file writes) from producing an unusable page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aasee.processing.report import PART_NAME

MAX_TREE_DEPTH = 40
MAX_TREE_NODES = 2000
MAX_ROWS = 200
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@dataclass
class TreeNode:
    pid: Any
    comm: str
    image: str
    argv: str
    children: list[TreeNode] = field(default_factory=list)
    truncated: bool = False


@dataclass
class Rows:
    """At most ``MAX_ROWS`` items of a list, and how many were left out (``part_url``: where
    the whole list is, when report.json shows only its start)."""

    items: list[dict[str, Any]]
    omitted: int = 0
    part_url: str | None = None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def rows(value: Any, limit: int = MAX_ROWS, part: Part | None = None) -> Rows:
    items = [item for item in _list(value) if isinstance(item, dict)]
    omitted = max(0, len(items) - limit)
    if part is None:
        return Rows(items[:limit], omitted)
    return Rows(items[:limit], omitted + part.unseen(len(_list(value))), part.url)


@dataclass
class Part:
    """A list report.json shows only the start of: its total and where the whole is served."""

    total: int
    url: str | None

    def unseen(self, present: int) -> int:
        return max(self.total - present, 0)


def parts(report: dict[str, Any], task_id: str | None) -> dict[str, Part]:
    """The report's ``paged`` lists, with their API address when the task is known."""
    found = {}
    for name, entry in _dict(report.get("paged")).items():
        total = _dict(entry).get("total")
        if not isinstance(name, str) or not PART_NAME.fullmatch(name):
            continue
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            url = None
            if task_id is not None:
                url = f"/api/v1/tasks/{quote(task_id, safe='')}/report/{name}"
            found[name] = Part(total, url)
    return found


def _argv(node: dict[str, Any]) -> str:
    return " ".join(_text(arg) for arg in _list(node.get("argv")))


def process_tree(report: dict[str, Any]) -> tuple[list[TreeNode], bool]:
    """The nested tree, cut at ``MAX_TREE_DEPTH`` levels and ``MAX_TREE_NODES`` nodes.

    Returns the roots and whether anything was cut.
    """
    budget = [MAX_TREE_NODES]
    cut = [False]

    def build(raw: Any, depth: int) -> TreeNode | None:
        node = _dict(raw)
        if not node or budget[0] <= 0:
            cut[0] = cut[0] or bool(node)
            return None
        budget[0] -= 1
        built = TreeNode(
            pid=node.get("pid"),
            comm=_text(node.get("comm")),
            image=_text(node.get("image")),
            argv=_argv(node),
            truncated=bool(node.get("truncated")),
        )
        children = _list(node.get("children"))
        if depth >= MAX_TREE_DEPTH:
            if children:
                built.truncated = cut[0] = True
            return built
        for child in children:
            made = build(child, depth + 1)
            if made is None:
                built.truncated = cut[0] = True
                break
            built.children.append(made)
        return built

    roots = []
    for raw in _list(report.get("process_tree")):
        made = build(raw, 1)
        if made is None:
            break
        roots.append(made)
    return roots, cut[0]


@dataclass
class TacticView:
    name: str
    techniques: list[dict[str, Any]]


def attack_by_tactic(report: dict[str, Any]) -> list[TacticView]:
    """ATT&CK techniques grouped under their tactics, in the report's tactic order."""
    attack = _dict(report.get("attack"))
    techniques = {
        _text(t.get("id")): t for t in _list(attack.get("techniques")) if isinstance(t, dict)
    }
    grouped: list[TacticView] = []
    placed: set[str] = set()
    for tactic in _list(attack.get("tactics")):
        tactic = _dict(tactic)
        members = [
            techniques.get(_text(tid), {"id": _text(tid), "name": ""})
            for tid in _list(tactic.get("techniques"))
        ]
        placed.update(_text(tid) for tid in _list(tactic.get("techniques")))
        grouped.append(TacticView(_text(tactic.get("name")), members))
    unplaced = [t for tid, t in techniques.items() if tid not in placed]
    if unplaced:
        grouped.append(TacticView("(no tactic)", unplaced))
    return grouped


def signatures(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = [s for s in _list(report.get("signatures")) if isinstance(s, dict)]
    return sorted(found, key=lambda s: SEVERITY_ORDER.get(_text(s.get("severity")), 9))


def analysis_context(report: dict[str, Any], task_id: str | None = None) -> dict[str, Any]:
    """Everything the analysis template needs from one report (``task_id`` links the lists
    report.json shows only the start of to the API serving them whole)."""
    tree, tree_cut = process_tree(report)
    files = _dict(report.get("files"))
    network = _dict(report.get("network"))
    paged = parts(report, task_id)
    processes = _list(report.get("processes"))
    tree_part = paged.get("process_tree")
    return {
        "report": report,
        "sample": _dict(report.get("sample")),
        "run": _dict(report.get("analysis")),
        "tree": tree,
        "tree_cut": tree_cut or tree_part is not None,
        "tree_url": tree_part.url if tree_part is not None else None,
        "process_count": len(processes)
        + (paged["processes"].unseen(len(processes)) if "processes" in paged else 0),
        "signatures": signatures(report),
        "tactics": attack_by_tactic(report),
        "attack_release": _text(_dict(report.get("attack")).get("release")),
        "files": {
            name: rows(files.get(name), part=paged.get(f"files.{name}"))
            for name in ("written", "created", "deleted", "renamed", "chmod", "read")
        },
        "network": {
            name: rows(network.get(name), part=paged.get(f"network.{name}"))
            for name in ("connections", "dns_traffic", "http", "tls", "flows", "udp", "binds")
        },
        "capture": _dict(network.get("capture")),
        "static": _dict(report.get("static")),
        "dropped": rows(report.get("dropped"), part=paged.get("dropped")),
        "output": _dict(report.get("output")),
        "errors": [_text(e) for e in _list(report.get("errors"))][:MAX_ROWS],
    }
