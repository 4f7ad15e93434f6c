"""bench/ stands on the product, never on the test suite: no bench module imports a test helper."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_bench_imports_no_test_helpers():
    test_modules = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    assert {"conftest", "web_helpers", "predict_helpers"} <= test_modules  # the helpers this guards against
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] in test_modules)
                 for p in sorted((ROOT / "bench").rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}
    path_edits = [(str(p.relative_to(ROOT)), line.strip()) for p in (ROOT / "bench").rglob("*.py")
                  for line in p.read_text().splitlines() if "sys.path" in line and "tests" in line]
    assert path_edits == []  # nor puts tests/ on the import path
