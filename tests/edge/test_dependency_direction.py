"""DESIGN.md section 2: the edge never imports the trainer or the exporters, and needs no open3d to run."""

import ast
from pathlib import Path

EDGE = Path(__file__).resolve().parents[2] / "edge"
LAZY_OPEN3D_ALLOWED = {"cli/bench.py"}  # the bench's reference column, imported only when the bench runs


def _imports(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.col_offset) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add((node.module.split(".")[0], node.col_offset))
    return found


def test_edge_modules_never_import_trainer_or_exporters() -> None:
    offenders = [str(p.relative_to(EDGE)) for p in EDGE.rglob("*.py") if {"trainer", "exporters"} & {m for m, _ in _imports(p)}]
    assert offenders == []


def test_edge_modules_do_not_import_open3d_at_module_level() -> None:
    offenders = []
    for path in EDGE.rglob("*.py"):
        rel = str(path.relative_to(EDGE))
        for module, column in _imports(path):
            if module == "open3d" and (column == 0 or rel not in LAZY_OPEN3D_ALLOWED):
                offenders.append(rel)
    assert offenders == []
