"""Dependencies flow one way: low-level modules never import the layers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tabdiffusion"
# A module may import only modules of its own layer or of a lower one.
LAYERS = [
    {"errors", "_random", "_memory", "neighbours", "dcr", "deadline"},
    {"schema", "tables", "config", "hardware", "dp", "distributed"},
    {"transforms", "diffusion", "nn", "proximity"},
    {"training", "fitted", "modelfile", "generation", "conditional", "checkpoint", "streaming"},
    {"fitting"},
    {"synthesizer"},
    {"evaluation", "oversampling", "partitioned"},
    {"demo", "spark"},
    {"cli", "__main__"},
]
# Math modules stay free of pandas (diffusion, nn, neighbours, dcr); transforms, schema, tables and proximity stay free of
# torch (also through hardware).
FORBIDDEN = {"diffusion": {"pandas"}, "nn": {"pandas"}, "transforms": {"torch", "hardware"},
             "schema": {"torch", "hardware"}, "tables": {"torch", "hardware"}, "proximity": {"torch", "hardware"},
             "neighbours": {"torch", "pandas"}, "dcr": {"torch", "pandas"},
             "deadline": {"torch", "pandas"}}


def _layer(module: str) -> int:
    found = [i for i, names in enumerate(LAYERS) if module in names]
    assert found, f"tabdiffusion/{module} is in no layer: add it to LAYERS"
    return found[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0] if not node.module.startswith("tabdiffusion.") else node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_imports_point_down_the_layers():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.name == "__init__.py" and len(relative.parts) == 1:
            continue
        top = relative.parts[0].removesuffix(".py")
        for name in _imports(path):
            if any(name in layer for layer in LAYERS) and name != top and _layer(name) > _layer(top):
                problems.append(f"{relative} imports {name}")
            if name in FORBIDDEN.get(top, set()):
                problems.append(f"{relative} imports {name}")
    assert not problems, problems
