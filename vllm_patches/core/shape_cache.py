"""Shapes of vLLM modules, computed once: in this process and in the user cache.

``status`` with many patches over few modules would parse the same big module (the
scheduler, the sampling parameters) once per patch and again at every run. The
fingerprints of a scope's functions (and the attributes each one uses, for
``fixed-if-uses``) depend only on the module's text and on how we fingerprint, so they
are kept under a key made of both: a blake2b of the text, the scope, and
``SHAPE_FORMAT`` with this package's version. A change to the file changes the key; a
cache entry is never trusted across a change, and never trusted at all: one that does
not read back as exactly what we write is recomputed (and rewritten).

Entries live in ``<cache>/shapes/<2 hex>/<key>.json`` (``$VLLM_PATCHES_CACHE``, else the
XDG cache). A cache that cannot be read or written costs a parse, nothing more.
``VLLM_PATCHES_SHAPE_CACHE=0`` turns the files off (the in-process memo stays).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from vllm_patches._version import __version__
from vllm_patches.core.shape import MethodPrints, find_class, fingerprint

SHAPE_FORMAT = 1
ENV = "VLLM_PATCHES_SHAPE_CACHE"
_MEMO: dict[str, MethodPrints] = {}


def scope_prints(source: str, class_name: str | None) -> MethodPrints:
    """``shape.class_prints`` for status and audit: the same fingerprints (plus the
    attributes each function uses, instead of its AST nodes), computed once per text.

    SyntaxError when the text does not parse (never cached)."""
    key = _key(source, class_name)
    found = _MEMO.get(key)
    if found is not None:
        return found
    found = _read(key) if _files_on() else None
    if found is None:
        found = _compute(source, class_name)
        if _files_on():
            _write(key, found)
    _MEMO[key] = found
    return found


def _key(source: str, class_name: str | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{SHAPE_FORMAT}|{__version__}|{class_name or ''}|".encode())
    h.update(source.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _compute(source: str, class_name: str | None) -> MethodPrints:
    tree = ast.parse(source)
    scope = tree if class_name is None else find_class(tree, class_name)
    if scope is None:
        return MethodPrints(False, {}, {}, {})
    nodes = {}
    for node in scope.body:  # the last definition of a name is the one that runs
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nodes[node.name] = node
    methods = {name: fingerprint(node) for name, node in nodes.items()}
    attributes = {name: frozenset(n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute))
                  for name, node in nodes.items()}
    return MethodPrints(True, methods, {}, attributes)


def _files_on() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _path(key: str) -> Path:
    from vllm_patches.core.files import cache_root

    return cache_root() / "shapes" / key[:2] / f"{key}.json"


def _read(key: str) -> MethodPrints | None:
    """The cached entry for ``key`` when it is exactly what ``_write`` writes; else None."""
    try:
        data = json.loads(_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    try:
        if not (isinstance(data, dict) and data.get("format") == SHAPE_FORMAT
                and data.get("key") == key and isinstance(data.get("found"), bool)):
            return None
        methods, attributes = data["methods"], data["attributes"]
        if not (isinstance(methods, dict) and isinstance(attributes, dict)
                and set(methods) == set(attributes)):
            return None
        for name, value in methods.items():
            if not (isinstance(value, str) and len(value) == 16
                    and all(c in "0123456789abcdef" for c in value)):
                return None
            if not (isinstance(attributes[name], list)
                    and all(isinstance(a, str) for a in attributes[name])):
                return None
        if not data["found"] and methods:
            return None
    except (KeyError, TypeError):
        return None
    return MethodPrints(data["found"], dict(methods), {},
                        {n: frozenset(a) for n, a in attributes.items()})


def _write(key: str, prints: MethodPrints) -> None:
    from vllm_patches.core.files import write_atomic

    data = {"format": SHAPE_FORMAT, "key": key, "found": prints.class_found,
            "methods": prints.methods,
            "attributes": {n: sorted(a) for n, a in (prints.attributes or {}).items()}}
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, separators=(",", ":")))
    except OSError:
        pass  # a cache that cannot be written costs a parse next time
