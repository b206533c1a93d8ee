"""How the analysis page reads a report: defensive about shape, bounded in size."""

from __future__ import annotations

from typing import Any

from aasee.web.metrics import HttpMetrics, render_prometheus
from aasee.web.report_view import (
    MAX_ROWS,
    MAX_TREE_DEPTH,
    MAX_TREE_NODES,
    analysis_context,
    attack_by_tactic,
    process_tree,
)


def _chain(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"pid": depth, "comm": f"p{depth}", "argv": [], "children": []}
    for level in range(depth - 1, 0, -1):
        node = {"pid": level, "comm": f"p{level}", "argv": ["x"], "children": [node]}
    return node


def _depth(nodes: list[Any]) -> int:
    return 1 + max((_depth(n.children) for n in nodes), default=0) if nodes else 0


def test_a_deep_tree_is_cut_at_the_depth_limit() -> None:
    roots, cut = process_tree({"process_tree": [_chain(MAX_TREE_DEPTH * 5)]})
    assert cut
    assert _depth(roots) == MAX_TREE_DEPTH


def test_a_wide_tree_is_cut_at_the_node_limit() -> None:
    children = [{"pid": i, "comm": "c", "children": []} for i in range(MAX_TREE_NODES * 2)]
    roots, cut = process_tree({"process_tree": [{"pid": 1, "comm": "r", "children": children}]})
    assert cut
    assert 1 + len(roots[0].children) == MAX_TREE_NODES


def test_wrong_shapes_do_not_break_the_page() -> None:
    hostile: dict[str, Any] = {
        "process_tree": "not a list",
        "files": ["wrong"],
        "network": {"connections": "nope", "http": [1, 2, {"url": "u"}]},
        "signatures": [None, {"severity": ["high"]}, {"name": "n", "severity": "high"}],
        "attack": {"tactics": [{"name": "Execution", "techniques": ["T1059"]}], "techniques": 5},
        "errors": [{"nested": True}],
    }
    context = analysis_context(hostile)
    assert context["tree"] == []
    assert context["network"]["http"].items == [{"url": "u"}]
    assert [s.get("name") for s in context["signatures"]] == ["n", None]
    assert context["tactics"][0].techniques == [{"id": "T1059", "name": ""}]
    assert context["errors"] == ['{"nested": true}']


def test_long_lists_are_bounded() -> None:
    report = {"files": {"written": [{"path": str(i)} for i in range(MAX_ROWS + 50)]}}
    rows = analysis_context(report)["files"]["written"]
    assert len(rows.items) == MAX_ROWS and rows.omitted == 50


def test_techniques_grouped_by_tactic() -> None:
    report = {
        "attack": {
            "techniques": [
                {"id": "T1053.003", "name": "Cron"},
                {"id": "T1070.004", "name": "File Deletion"},
                {"id": "T9999", "name": "Orphan"},
            ],
            "tactics": [
                {"name": "Persistence", "techniques": ["T1053.003"]},
                {"name": "Defense Evasion", "techniques": ["T1070.004"]},
            ],
        }
    }
    grouped = attack_by_tactic(report)
    assert [(t.name, [x["name"] for x in t.techniques]) for t in grouped] == [
        ("Persistence", ["Cron"]),
        ("Defense Evasion", ["File Deletion"]),
        ("(no tactic)", ["Orphan"]),
    ]


def test_prometheus_labels_are_escaped_and_values_numeric() -> None:
    http = HttpMetrics()
    http.observe("GET", '/x"\n\\', 200, 0.01)
    text = render_prometheus({"tasks": {"pending": 3}, "odd": {"a": None}, "flag": True}, http)
    assert 'aasee_tasks{status="pending"} 3' in text
    assert 'route="/x\\"\\n\\\\"' in text
    assert "aasee_flag 1" in text
    assert "aasee_odd" not in text
