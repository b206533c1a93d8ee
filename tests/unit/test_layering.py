"""Imports only point down the layer table in ARCHITECTURE.md."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = ["core", "contexts", "images", "guest", "hooks", "processing", "service", "web", "cli"]
SRC = Path(__file__).resolve().parents[2] / "src" / "aasee"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", [name for name in LAYERS if (SRC / name).is_dir()])
def test_layer_imports_only_lower_layers(layer: str) -> None:
    rank = LAYERS.index(layer)
    violations = []
    for module in (SRC / layer).rglob("*.py"):
        for name in _imports(module):
            parts = name.split(".")
            if parts[0] == "aasee" and len(parts) > 1 and parts[1] in LAYERS:
                if LAYERS.index(parts[1]) > rank:
                    violations.append(f"{module.relative_to(SRC)} imports {name}")
    assert not violations, violations
