"""Stages stand side by side and never import each other: each package imports only from layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import alexnet_deploy

# Lower numbers sit below higher ones; packages on one layer are siblings and must not import each other.
LAYERS = {
    "errors": -1, "core": 0,
    "model": 1, "data": 1,
    "artifacts": 2,
    "runtimes": 3,
    "verify": 4,  # the yardstick the stages measure themselves with
    "train": 5, "export": 5, "precision": 5, "engine": 5, "bench": 5, "serve": 5,
    "pipeline": 6,
    "commands": 7,
    "cli": 8, "__main__": 9,
}


def _imports(path: Path) -> set[str]:
    """First component under alexnet_deploy of every module ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "alexnet_deploy" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
    return found


def test_every_package_imports_only_from_below():
    root = Path(alexnet_deploy.__file__).parent
    wrong = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        owner = relative[0].removesuffix(".py")
        if owner == "__init__":
            continue
        assert owner in LAYERS, f"{path} belongs to no layer; add its package to LAYERS"
        for used in _imports(path):
            if used != owner and LAYERS[used] >= LAYERS[owner]:
                wrong.append(f"{'/'.join(relative)} imports {used}")
    assert not wrong, wrong
