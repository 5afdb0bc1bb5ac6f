"""The package's layers, written down once, and the checker that holds the imports to them.

``LAYERS`` says which layers each layer may import (its own always). Every import counts:
module level, inside functions, under ``if TYPE_CHECKING:``. A module of the package root
other than ``_version`` is the public API and may import anything; ``_version`` is core.

``python -m tests.layers`` prints what breaks the rules (nothing, exit 0, when they hold).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

LAYERS: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "runtime": frozenset({"core"}),
    "source": frozenset({"core"}),
    "verify": frozenset({"core", "runtime", "source"}),
    "backport": frozenset({"core", "source"}),
    "authoring": frozenset({"core", "runtime", "source", "verify", "backport"}),
    "cli": frozenset({"core", "runtime", "source", "verify", "backport", "authoring", "api"}),
    "api": frozenset({"core", "runtime", "source", "verify", "backport", "authoring", "cli"}),
}

# Root modules that belong to a layer other than "api" (the package's public face).
ROOT_LAYERS = {"_version": "core"}



@dataclass(frozen=True)
class Import:
    """One import statement's edge inside the package."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root`` (a folder with ``__init__.py``), by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _targets(node: ast.AST, module: str, is_package: bool, known: dict[str, Path]):
    """The package's modules one ``import`` / ``from ... import`` statement names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[: len(here) - node.level + 1]
        base = ".".join(filter(None, [*here, base]))
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in known else base


def imports(root: Path) -> list[Import]:
    """Every import between the package's modules, wherever in a module it stands."""
    known = modules(root)
    edges = set()
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, module, path.name == "__init__.py", known):
                target = _owner(target, known)
                if target is not None and target != module:
                    edges.add(Import(module, target, node.lineno))
    return sorted(edges, key=lambda e: (e.importer, e.line, e.imported))


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The package module ``name`` is or lies in (``a.b.attr`` -> ``a.b``), or None outside."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def layer(module: str) -> str:
    """The layer a dotted module name of the package belongs to."""
    top = module.split(".")[1:2]
    if not top:
        return "api"
    return top[0] if top[0] in LAYERS else ROOT_LAYERS.get(top[0], "api")


def upward(edges: list[Import]) -> list[Import]:
    """The imports the layer table forbids."""
    return [
        e for e in edges
        if layer(e.importer) != layer(e.imported)
        and layer(e.imported) not in LAYERS[layer(e.importer)]
    ]


def cycles(edges: list[Import]) -> list[list[str]]:
    """The import cycles (strongly connected groups of two or more modules), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    groups = [sorted(g) for g in _strongly_connected(graph) if len(g) > 1]
    return sorted(groups)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (a deep package must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while not group or member != node:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def problems(root: Path) -> list[str]:
    """One line per upward import and per cycle in the package at ``root``."""
    edges = imports(root)
    lines = [f"upward: {e} ({layer(e.importer)} -> {layer(e.imported)})" for e in upward(edges)]
    lines += ["cycle: " + " <-> ".join(group) for group in cycles(edges)]
    return lines


if __name__ == "__main__":
    found = problems(Path(__file__).resolve().parent.parent / "vllm_patches")
    print("\n".join(found))
    sys.exit(1 if found else 0)
