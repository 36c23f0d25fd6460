"""The shape of the `overlayc` package: its import graph has no cycle (function-level imports
included: they hide a cycle from Python, not from the reader) and no module exceeds ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.host import ROOT

PACKAGE = ROOT / "overlayc"
MAX_LINES = 400


def module_name(path: Path) -> str:
    """`overlayc/apply/run.py` -> "overlayc.apply.run"; a package's `__init__.py` is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(path: Path, modules: set[str], module: str | None = None) -> set[str]:
    """The overlayc modules `path` (module `module`, by default named after its path) imports
    anywhere in its body (`from pkg import mod` names `pkg.mod` when that is a module, else `pkg`)."""
    module, is_package = module or module_name(path), path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in modules else base)
    return {m for m in found if m in modules and m != module}


def import_graph() -> dict[str, set[str]]:
    """Module -> the overlayc modules it imports, for every module of the package."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, sorted for stability)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_relative_and_function_level_imports_are_edges(tmp_path: Path) -> None:
    pkg = ROOT / "overlayc" / "compile"
    graph = import_graph()
    assert "overlayc.compile.assign" in graph[module_name(pkg / "__init__.py")]
    assert module_name(pkg / "__init__.py") == "overlayc.compile"
    late = tmp_path / "late.py"
    late.write_text("def f() -> None:\n    from .compile import assign\n    from overlayc import plan\n")
    assert imported(late, set(graph), "overlayc.late") == {"overlayc.compile.assign", "overlayc.plan"}


def test_the_overlayc_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_overlayc_module_exceeds_the_line_budget() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    over = {path: n for path, n in sorted(sizes.items()) if n > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines: {over}"


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/support/ (or lab/), never in a test module: importing one
    runs its fixtures and collection side effects twice."""
    found = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "lab").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names
                      if n.split(".")[-1].startswith("test_") or ".test_" in n]
    assert found == []
