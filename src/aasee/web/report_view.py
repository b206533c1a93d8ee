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
    """At most ``MAX_ROWS`` items of a list, and how many were left out."""

    items: list[dict[str, Any]]
    omitted: int = 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def rows(value: Any, limit: int = MAX_ROWS) -> Rows:
    items = [item for item in _list(value) if isinstance(item, dict)]
    return Rows(items[:limit], max(0, len(items) - limit))


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


def analysis_context(report: dict[str, Any]) -> dict[str, Any]:
    """Everything the analysis template needs from one report."""
    tree, tree_cut = process_tree(report)
    files = _dict(report.get("files"))
    network = _dict(report.get("network"))
    return {
        "report": report,
        "sample": _dict(report.get("sample")),
        "run": _dict(report.get("analysis")),
        "tree": tree,
        "tree_cut": tree_cut,
        "process_count": len(_list(report.get("processes"))),
        "signatures": signatures(report),
        "tactics": attack_by_tactic(report),
        "attack_release": _text(_dict(report.get("attack")).get("release")),
        "files": {
            name: rows(files.get(name))
            for name in ("written", "created", "deleted", "renamed", "chmod", "read")
        },
        "network": {
            name: rows(network.get(name))
            for name in ("connections", "dns_traffic", "http", "tls", "flows", "udp", "binds")
        },
        "capture": _dict(network.get("capture")),
        "static": _dict(report.get("static")),
        "dropped": rows(report.get("dropped")),
        "output": _dict(report.get("output")),
        "errors": [_text(e) for e in _list(report.get("errors"))][:MAX_ROWS],
    }
