"""The source edit: write a catalogued fix into a vLLM module's text, and take it out.

``patch_text`` locates the target class and methods with ``ast`` and splices
in the fix's methods, leaving every other line and the file's line endings as
they were. Each wrapped vLLM method keeps its body and is renamed
``_vllm_patches_orig_<name>``; the fix's methods follow it between marker
comments. ``unpatch_text`` is the exact inverse, so a revert gives the
original bytes back. Pure text in, text out: callers do the file I/O.
"""

from __future__ import annotations

import ast
import re

from . import messages
from ._version import __version__
from .catalog import Patch, Target
from .state import MODIFIED, PATCHED, PRE_FIX, classify

BEGIN = "# >>> vllm-patches {id}"
END = "# <<< vllm-patches {id}"


class EditError(Exception):
    """The fix cannot be written into (or taken out of) this text."""


def newline_of(text: str) -> str:
    """The file's line ending: CRLF when its first line ends so, else LF."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _method_block(patch: Patch, target: Target, name: str, indent: str, nl: str) -> list[str]:
    node = patch.fix_nodes(target)[name]
    lines = patch.fix_source.splitlines()[node.lineno - 1 : node.end_lineno]
    own = len(lines[0]) - len(lines[0].lstrip())
    out = []
    for line in lines:
        out.append((indent + line[own:] if line.strip() else "") + nl)
    return out


def _marker(template: str, patch: Patch, indent: str, nl: str, note: str = "") -> str:
    return indent + template.format(id=patch.id) + note + nl


def patch_text(patch: Patch, target: Target, text: str, *, force: bool = False) -> str:
    """``text`` with the fix of ``patch`` for ``target`` written in.

    Refuses (EditError) unless the target has a known pre-fix shape, or, with
    ``force``, at least has the methods to wrap.
    """
    shape = classify(patch, target, text)
    if shape.kind == PATCHED:
        raise EditError(messages.edit_already_patched(patch.id, target.module))
    if shape.kind != PRE_FIX and not (force and shape.kind == MODIFIED):
        raise EditError(messages.edit_refused(patch.id, target.module, shape.detail or shape.kind))
    nl = newline_of(text)
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == target.class_name)
    methods = {
        n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    wraps = sorted(target.wraps, key=lambda w: methods[w.name].lineno)
    insertions: dict[int, list[str]] = {}
    for i, wrap in enumerate(wraps):
        node = methods[wrap.name]
        def_line = node.lineno - 1
        indent = re.match(r"\s*", lines[def_line]).group(0)
        renamed, count = re.subn(
            rf"\bdef(\s+){re.escape(wrap.name)}\b", rf"def\g<1>{wrap.original_name}",
            lines[def_line], count=1,
        )
        if not count:
            raise EditError(messages.edit_no_def_line(wrap.name, target.module))
        lines[def_line] = renamed
        names = [wrap.name] + (list(target.adds) if i == len(wraps) - 1 else [])
        block = [nl, _marker(BEGIN, patch, indent, nl,
                             f" ({patch.upstream_pr}, vllm-patches {__version__})")]
        for j, name in enumerate(names):
            if j:
                block.append(nl)
            block += _method_block(patch, target, name, indent, nl)
        block.append(_marker(END, patch, indent, nl))
        insertions[node.end_lineno] = block
    for end in sorted(insertions, reverse=True):
        if end == len(lines) and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += nl
        lines[end:end] = insertions[end]
    result = "".join(lines)
    _check(patch, target, result)
    return result


def unpatch_text(patch: Patch, target: Target, text: str) -> str:
    """The inverse of ``patch_text``: the blocks removed, the originals renamed back."""
    lines = text.splitlines(keepends=True)
    begin = BEGIN.format(id=patch.id)
    end = END.format(id=patch.id)
    out: list[str] = []
    i = 0
    found = False
    while i < len(lines):
        if lines[i].strip().startswith(begin):
            found = True
            if out and not out[-1].strip():
                out.pop()  # the blank line patch_text put before the block
            while i < len(lines) and not lines[i].strip() == end:
                i += 1
            if i == len(lines):
                raise EditError(messages.edit_unterminated(patch.id, target.module))
            i += 1
            continue
        out.append(lines[i])
        i += 1
    if not found:
        raise EditError(messages.edit_not_patched(patch.id, target.module))
    result = "".join(out)
    for wrap in target.wraps:
        result = re.sub(rf"\bdef(\s+){re.escape(wrap.original_name)}\b", rf"def\g<1>{wrap.name}",
                        result, count=1)
    return result


def _check(patch: Patch, target: Target, text: str) -> None:
    try:
        compile(text, target.relpath, "exec")
    except SyntaxError as exc:  # pragma: no cover - a bug of ours, never the user's
        raise EditError(messages.edit_broke_syntax(target.module, exc)) from None
    if classify(patch, target, text).kind != PATCHED:
        raise EditError(messages.edit_not_recognised(patch.id, target.module))
