"""The package's import graph, read from the source (no import): no cycle, no private name
imported across modules, and the solvers reach the penalty kinds only through `Term`'s
methods."""

from __future__ import annotations

import ast
from pathlib import Path

import jaxreg

PACKAGE = Path(jaxreg.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _imports(name: str, f: Path, mods: dict[str, Path]):
    """``(target module, imported name or None)`` for each jaxreg import of ``name`` outside
    ``if TYPE_CHECKING:`` blocks (imports inside functions included)."""
    tree = ast.parse(f.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    here = name.split(".") if f.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names if a.name.startswith("jaxreg"))
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if not module.startswith("jaxreg"):
                continue
            for a in node.names:
                sub = f"{module}.{a.name}"
                yield (sub, None) if sub in mods else (module, a.name)


def _graph():
    mods = _modules()
    graph, private = {}, []
    for name, f in mods.items():
        for target, attr in _imports(name, f, mods):
            # a package's __init__ re-exporting its own modules is not a cycle with them
            if target != name and not target.startswith(name + "."):
                graph.setdefault(name, set()).add(target)
            if attr and attr.startswith("_") and not attr.startswith("__"):
                private.append(f"{name} imports {attr} from {target}")
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_and_no_private_name_across_modules():
    graph, private = _graph()
    assert len(graph) > 40  # the scan sees the package
    assert _cycles(graph) == []
    assert private == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_solvers_and_the_types_import_no_kind():
    """`jaxreg._linear` and `jaxreg._penalty` ask the kinds through `Term`'s methods."""
    graph, _ = _graph()
    for name, targets in graph.items():
        if name.startswith(("jaxreg._linear", "jaxreg._penalty")):
            assert not any(t.startswith("jaxreg._kinds") for t in targets), (name, targets)
