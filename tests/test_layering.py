"""The import arrows stay one-way (issue 25), read from the AST of every import, those inside
functions included (a lazy import is still an arrow):
- no import cycle among the convert/ modules (gates.py and parity.py used to import each other);
- the model gate needs only the backend runner, not the parity judging or the terminal report;
- fer_browser/schema.py and fer_browser/paths.py, the contract layer everything reads, import nothing
  from training/, convert/, predict/ or the server."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the folders of the checkout and the package names they are imported as (fer_browser/__init__.py)
PACKAGES = {"convert": "fer_browser.convert", "training": "fer_browser.training", "predict": "fer_browser.predict",
            "fer_browser": "fer_browser"}


def imports(path: Path, package: str) -> set[str]:
    """Dotted names of every module path imports, relative imports resolved against package and the
    checkout's top-level spellings (`convert.x`) written as the installed ones (`fer_browser.convert.x`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)  # `from . import x` names module x
    top = {name: installed for name, installed in PACKAGES.items() if name != installed}
    return {top[n.split(".")[0]] + n[len(n.split(".")[0]):] if n.split(".")[0] in top else n for n in names}


def module_graph(folder: str) -> dict[str, set[str]]:
    """module stem -> stems of the same folder it imports."""
    package = PACKAGES[folder]
    stems = {p.stem for p in (ROOT / folder).glob("*.py")}
    graph = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        found = imports(path, package)
        graph[path.stem] = {s for s in stems if f"{package}.{s}" in found and s != path.stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk, each as the path that closes it."""
    found, done = [], set()

    def walk(node, path):
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            walk(nxt, path + [node])
        done.add(node)

    for node in sorted(graph):
        walk(node, [])
    return found


def test_the_cycle_finder_finds_the_old_convert_cycle():
    assert cycles({"gates": {"parity"}, "parity": {"gates", "reference"}, "reference": set()}) == [
        ["gates", "parity", "gates"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_among_convert_modules():
    graph = module_graph("convert")
    assert {"gates", "parity", "backends", "report", "publish"} <= set(graph)
    assert cycles(graph) == []


def test_the_model_gate_imports_only_the_backend_runner():
    graph = module_graph("convert")
    assert "backends" in graph["gates"]
    assert not {"parity", "report", "publish", "verify"} & graph["gates"]
    assert not {"parity", "report", "gates"} & graph["backends"]  # the runner judges and prints nothing


def test_contract_modules_import_nothing_from_above():
    above = ("fer_browser.training", "fer_browser.convert", "fer_browser.predict", "fer_browser.server",
             "fer_browser.static", "fer_browser.model_dir", "fer_browser.recognizer", "fer_browser.cli")
    for name in ("schema", "paths"):
        found = imports(ROOT / "fer_browser" / f"{name}.py", "fer_browser")
        assert found, name
        assert sorted(m for m in found if m.startswith(above)) == [], name


def test_the_core_layer_imports_only_the_bottom_modules():
    """fer_browser/core (metadata, manifest, atomic writes, normalisation, probabilities, TF.js weights) is
    what training, convert, predict, the server and the Recognizer share: it may import the standard-library
    modules at the bottom (schema, paths, cli) and itself, nothing else of the project."""
    bottom = ("fer_browser.core", "fer_browser.schema", "fer_browser.paths", "fer_browser.cli")
    modules = sorted((ROOT / "fer_browser" / "core").glob("*.py"))
    assert {p.stem for p in modules} >= {"metadata", "manifest", "atomic", "normalize", "probabilities", "tfjs_weights"}
    for path in modules:
        found = imports(path, "fer_browser.core")
        project = sorted(m for m in found if m.startswith("fer_browser") and not m.startswith(bottom))
        assert project == [], path.name
    cli = imports(ROOT / "fer_browser" / "cli.py", "fer_browser")
    assert sorted(m for m in cli if m.startswith("fer_browser") and not m.startswith("fer_browser.paths")) == []


def test_runtime_code_reaches_the_contracts_through_core():
    """predict/, the server and the Recognizer read contracts from fer_browser.core, never from training/
    (which needs torch); the only arrows from predict into training are the optional torch backend's."""
    allowed = {"fer_browser.training.checkpoint", "fer_browser.training.models"}  # --backend torch only
    for folder, package in (("predict", "fer_browser.predict"), ("fer_browser", "fer_browser")):
        for path in sorted((ROOT / folder).glob("*.py")):
            found = {m for m in imports(path, package) if m.startswith("fer_browser.training")}
            stray = sorted(m for m in found if not any(m == a or m.startswith(a + ".") for a in allowed))
            assert stray == [], f"{folder}/{path.name}: {stray}"


def test_no_two_modules_share_a_name_that_says_what_they_do():
    """Two preprocess.py and two pipeline.py used to mean reading the folder to know which; generic
    entry points (__init__, __main__, errors) and the per-folder backends may repeat."""
    allowed = {"__init__.py", "__main__.py", "errors.py", "backends.py", "server.py"}  # server.py: the root shim
    seen: dict[str, list[str]] = {}
    for folder in ("training", "training/models", "convert", "predict", "fer_browser", "fer_browser/core", "bench"):
        for path in (ROOT / folder).glob("*.py"):
            seen.setdefault(path.name, []).append(folder)
    assert {name: where for name, where in seen.items() if len(where) > 1 and name not in allowed} == {}
