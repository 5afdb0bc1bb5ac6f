"""Recognise code by its shape: fingerprints of functions read with ``ast``.

A fingerprint is the sha256 of a canonical serialisation of a function's AST,
with its name, docstring, comments and formatting left out. Reformatting a
function keeps its fingerprint; changing what it does changes it. The
serialisation is our own (not ``ast.dump``), so the same code gives the same
fingerprint on every Python version we support.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from functools import lru_cache

_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "type_params", "kind"})


def _canonical(node: object, out: list[str]) -> None:
    if isinstance(node, ast.AST):
        out.append(type(node).__name__)
        out.append("(")
        for field in node._fields:
            if field in _SKIPPED_FIELDS:
                continue
            value = getattr(node, field, None)
            if value is None or value == []:
                continue
            out.append(field)
            out.append("=")
            _canonical(value, out)
            out.append(",")
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _canonical(item, out)
            out.append(",")
        out.append("]")
    else:
        out.append(repr(node))


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def fingerprint(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """Fingerprint of one function: independent of its name and formatting."""
    parts: list[str] = [type(func).__name__]
    for piece in (func.args, func.decorator_list, func.returns, _without_docstring(func.body)):
        _canonical(piece, parts)
        parts.append("|")
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


def find_class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    """The module-level class ``name`` that runs: its last definition wins at import."""
    found = None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            found = node
    return found


def find_method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def uses_attribute(func: ast.AST, attribute: str) -> bool:
    """True when the function reads or writes ``<anything>.attribute``."""
    return any(
        isinstance(node, ast.Attribute) and node.attr == attribute for node in ast.walk(func)
    )


@dataclass(frozen=True)
class MethodPrints:
    """Fingerprints of every method of a class, by name."""

    class_found: bool
    methods: dict[str, str]
    nodes: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    # The attributes each function uses, where the nodes were not kept (shape_cache).
    attributes: dict[str, frozenset[str]] | None = None

    def uses(self, name: str, attribute: str) -> bool:
        """True when function ``name`` reads or writes ``<anything>.attribute``."""
        if self.attributes is not None:
            return attribute in self.attributes.get(name, ())
        node = self.nodes.get(name)
        return node is not None and uses_attribute(node, attribute)


@lru_cache(maxsize=32)
def class_prints(source: str, class_name: str | None) -> MethodPrints:
    """Fingerprint the functions of a scope in a module's source text: the methods of
    ``class_name`` (its last definition), or the module's own functions when it is None."""
    tree = ast.parse(source)
    scope = tree if class_name is None else find_class(tree, class_name)
    if scope is None:
        return MethodPrints(False, {}, {})
    nodes = {}
    for node in scope.body:  # the last definition of a name is the one that runs
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nodes[node.name] = node
    return MethodPrints(True, {name: fingerprint(node) for name, node in nodes.items()}, nodes)
