"""The text of a pure wrapper: a fix that calls vLLM's own function and changes nothing.

``catalog new`` writes one per wrapped name into a new patch's ``fix.py``, for
the author to turn into the fix. With vLLM's definition at hand (read with
``ast`` from a real file), the wrapper has its kind (``@classmethod``,
``@staticmethod``, ``@property``), its ``async``, and its signature: the same
parameters, annotations and defaults, each passed on to the original as it
came. Without it, ``*args, **kwargs``. The original is reached as catalogued
fixes reach it: ``self._vllm_patches_orig_<name>(...)`` in a class,
``_vllm_patches_orig_<name>(...)`` for a module-level function.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from vllm_patches.core.catalog import ORIGINAL_PREFIX, Kind

INDENT = "    "
WIDTH = 99  # a signature or call longer than this is written one parameter per line
_KIND_DECORATORS = {Kind.CLASSMETHOD: "classmethod", Kind.STATICMETHOD: "staticmethod",
                    Kind.PROPERTY: "property"}


@dataclass(frozen=True)
class Wrapper:
    """One wrapper's text (indented for its scope) and what the author must know about it."""

    text: str
    default_names: tuple[str, ...] = ()  # names vLLM's default values use (fix.py imports them)
    notes: tuple[str, ...] = ()  # decorators the wrapper does not repeat, said in fix.py too


def wrapper(name: str, kind: Kind, class_name: str | None, patch_id: str,
            node: ast.FunctionDef | ast.AsyncFunctionDef | None) -> Wrapper:
    """The wrapper of vLLM's ``name`` (its definition ``node``, or None when unknown)."""
    indent = INDENT if class_name is not None else ""
    if node is not None and kind != Kind.FUNCTION and kind != Kind.STATICMETHOD and not (
            node.args.posonlyargs or node.args.args):
        node = None  # no self (or cls) to call through: *args, **kwargs it is
    lines: list[str] = []
    notes = tuple(_other_decorators(node)) if node is not None else ()
    for note in notes:
        lines.append(f"{indent}# {note}")
    if kind in _KIND_DECORATORS:
        lines.append(f"{indent}@{_KIND_DECORATORS[kind]}")
    params, call = _params_and_call(node, kind)
    receiver = _receiver(kind, class_name, params)
    original = f"{receiver}{ORIGINAL_PREFIX}{name}"
    is_async = isinstance(node, ast.AsyncFunctionDef)
    async_gen = is_async and _yields(node) and not notes
    returns = f" -> {ast.unparse(node.returns)}" if node is not None and node.returns else ""
    head = f"{'async ' if is_async and (async_gen or not _yields(node)) else ''}def {name}"
    lines += _joined(f"{indent}{head}(", params, f"){returns}:")
    body = indent + INDENT
    lines.append(f"{body}# TODO({patch_id}): the fix. As written, vLLM's own one runs "
                 "unchanged.")
    if kind == Kind.PROPERTY:
        lines.append(f"{body}return {original}")
    elif async_gen:
        lines += _joined(f"{body}async for item in {original}(", call, "):")
        lines.append(f"{body}{INDENT}yield item")
    else:
        awaited = "await " if is_async and not _yields(node) else ""
        lines += _joined(f"{body}return {awaited}{original}(", call, ")")
    names = _default_names(node) if node is not None else ()
    return Wrapper("\n".join(lines) + "\n", names, notes)


def _receiver(kind: Kind, class_name: str | None, params: list[str]) -> str:
    if kind == Kind.FUNCTION:
        return ""
    if kind == Kind.STATICMETHOD:
        return f"{class_name}."
    first = params[0].split(":")[0].split("=")[0].strip() if params else "self"
    return f"{first}."


def _params_and_call(node, kind: Kind) -> tuple[list[str], list[str]]:
    """The parameters of the wrapper's ``def`` and the arguments it passes on."""
    if node is None:
        own = [] if kind in (Kind.FUNCTION, Kind.STATICMETHOD) else [
            "cls" if kind == Kind.CLASSMETHOD else "self"]
        if kind == Kind.PROPERTY:
            return own, []
        return own + ["*args", "**kwargs"], ["*args", "**kwargs"]
    a = node.args
    params: list[str] = []
    call: list[str] = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        params.append(_param(arg, default))
        if i == len(a.posonlyargs) - 1:
            params.append("/")
        call.append(arg.arg)
    if a.vararg is not None:
        params.append("*" + _param(a.vararg, None))
        call.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        params.append("*")
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append(_param(arg, default))
        call.append(f"{arg.arg}={arg.arg}")
    if a.kwarg is not None:
        params.append("**" + _param(a.kwarg, None))
        call.append("**" + a.kwarg.arg)
    if kind in (Kind.METHOD, Kind.CLASSMETHOD, Kind.PROPERTY) and positional:
        call = call[1:]  # self or cls: the receiver of the call
    return params, call


def _param(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg
    if arg.annotation is not None:
        text += f": {ast.unparse(arg.annotation)}"
    if default is not None:
        text += (" = " if arg.annotation is not None else "=") + ast.unparse(default)
    return text


def _joined(head: str, items: list[str], tail: str) -> list[str]:
    one = head + ", ".join(items) + tail
    if len(one) <= WIDTH or not items:
        return [one]
    inner = " " * (len(head) - len(head.lstrip())) + INDENT
    return [head] + [f"{inner}{item}," for item in items] + [
        " " * (len(head) - len(head.lstrip())) + tail]


def _yields(node) -> bool:
    """True when the function itself (not a nested one) yields: a generator."""
    if node is None:
        return False
    todo = list(node.body)
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(current))
    return False


def _other_decorators(node) -> list[str]:
    """A note for each decorator of vLLM's definition that is not its kind's."""
    kinds = set(_KIND_DECORATORS.values())
    return [f"vLLM decorates it with @{ast.unparse(d)}: the original keeps that decorator, "
            "this wrapper does not repeat it."
            for d in node.decorator_list
            if not (isinstance(d, ast.Name) and d.id in kinds)]


def _default_names(node) -> tuple[str, ...]:
    """The names vLLM's default values read (``envs`` of ``envs.VLLM_X``), builtins aside:
    runtime mode defines the fix outside vLLM's module, so fix.py imports them."""
    a = node.args
    found: dict[str, None] = {}
    for default in [*a.defaults, *(d for d in a.kw_defaults if d is not None)]:
        for sub in ast.walk(default):
            if isinstance(sub, ast.Name) and not hasattr(builtins, sub.id):
                found[sub.id] = None
    return tuple(found)


def module_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (also inside top-level if/try blocks)."""
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try)):
            todo += [*node.body, *node.orelse, *getattr(node, "finalbody", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return names
