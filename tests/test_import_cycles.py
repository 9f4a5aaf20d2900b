"""No import cycles among gradguard's modules — counting the imports inside functions — and
no package importing another package's private module.

A lazy import inside a function still ties two modules together: each needs the other,
and whichever is loaded first sees the other half-initialised in some call order.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gradguard"
#: Cycles another change is removing; each entry must still be a cycle, so the list can
#: only shrink.
KNOWN: list[set[str]] = []


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the gradguard modules it imports anywhere in its body (not under TYPE_CHECKING)."""
    paths = {_module(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                found |= {
                    f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names
                }
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert [c for c in found if c not in KNOWN] == []
    assert all(k in found for k in KNOWN), "a known cycle is gone: remove it from KNOWN"


def test_the_message_plumbing_is_a_leaf():
    """The catalogs' loader imports nothing of gradguard; errors and checks build on it."""
    graph = import_graph()
    assert graph["gradguard._catalog"] == set()
    assert graph["gradguard.errors"] == {"gradguard._catalog"}
    assert graph["gradguard._validate"] == {
        "gradguard._catalog",
        "gradguard.errors",
        "gradguard._atomic",  # the one write probe
    }


def private_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """``(importer, imported)`` pairs where a module imports another package's private module.

    A module's own package, and the packages above it, may share private modules with it
    (``gradguard._validate`` serves every package); a sibling's may not: what two
    packages share is public in its home package, or moves.
    """
    packages = {m for m in graph if (SRC.parent / Path(*m.split(".")) / "__init__.py").exists()}
    found = set()
    for module, imported in graph.items():
        home = module if module in packages else module.rpartition(".")[0]
        for target in imported:
            parts = target.split(".")
            private = [
                i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")
            ]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])
            if not (home == owner or home.startswith(owner + ".")):
                found.add((module.removeprefix("gradguard."), target.removeprefix("gradguard.")))
    return found


def test_the_private_import_check_finds_one():
    graph = {"gradguard.a.x": {"gradguard.b._y", "gradguard.a._z", "gradguard._c"}}
    assert private_imports(graph) == {("a.x", "b._y")}


def test_no_package_imports_another_packages_private_module():
    found = private_imports(import_graph())
    assert found == set(), "import it from its package's public surface, or move it"
