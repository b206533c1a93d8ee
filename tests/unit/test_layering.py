"""Imports only point down the layer table of the README ("How it works", "Layers"):
``cli`` → ``web`` → ``karton`` → ``service`` → ``processing`` → ``hooks`` → ``guest`` → ``images`` →
``contexts`` → ``core``; absolute and relative imports alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = [
    "core",
    "arch",
    "contexts",
    "images",
    "guest",
    "hooks",
    "processing",
    "service",
    "karton",
    "web",
    "cli",
]
SRC = Path(__file__).resolve().parents[2] / "src" / "aasee"


def _imports(path: Path, root: Path) -> set[str]:
    """The absolute names of the modules ``path`` (in the package ``root``) imports."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    package = parts[:-1]  # of a module, or of a package's __init__: where "." points
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module.split(".") if node.module else []
        if node.level == 0:
            base = module
        elif node.level - 1 < len(package):  # each dot past the first is one level up
            base = package[: len(package) - (node.level - 1)] + module
        else:
            names.add("." * node.level + (node.module or ""))  # above the top package
            continue
        names.add(".".join(base))
        # "from aasee import web" or "from .. import service" imports a module by name.
        names.update(".".join([*base, alias.name]) for alias in node.names)
    return names


def _violations(root: Path, layer: str) -> list[str]:
    rank = LAYERS.index(layer)
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for name in sorted(_imports(path, root)):
            parts = name.split(".")
            if name.startswith("."):
                found.append(f"{path.relative_to(root)} imports {name} (outside the package)")
            elif parts[0] == root.name and len(parts) > 1 and parts[1] in LAYERS:
                if LAYERS.index(parts[1]) > rank:
                    found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize("layer", [name for name in LAYERS if (SRC / name).is_dir()])
def test_layer_imports_only_lower_layers(layer: str) -> None:
    violations = _violations(SRC, layer)
    assert not violations, violations


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("core/bus.py", "from aasee.service import analysis\n"),
        ("core/bus.py", "import aasee.web.app\n"),
        ("core/bus.py", "from aasee import cli\n"),
        ("core/bus.py", "from ..hooks import sample\n"),
        ("core/bus.py", "from .. import processing\n"),
        ("core/sub/deep.py", "from ...guest.client import AgentClient\n"),
        ("core/sub/__init__.py", "from ...images import store\n"),
        ("contexts/__init__.py", "from ..service.analysis import run_analysis\n"),
        ("contexts/x.py", "if True:\n    from ..images import store\n"),
    ],
)
def test_upward_imports_are_found(tmp_path: Path, where: str, source: str) -> None:
    root = tmp_path / "aasee"
    path = root / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert _violations(root, where.split("/")[0]), source


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("service/x.py", "from ..processing import report\nfrom . import db\n"),
        ("service/x.py", "from .db import Database\nfrom aasee.core import Hook\n"),
        ("service/sub/__init__.py", "from .. import facade\nfrom ...hooks import sample\n"),
        ("service/x.py", "import json\nfrom typing import Any\n"),
    ],
)
def test_downward_and_sideways_imports_pass(tmp_path: Path, where: str, source: str) -> None:
    root = tmp_path / "aasee"
    path = root / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert _violations(root, "service") == []
