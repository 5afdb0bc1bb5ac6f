"""The source edit: write a catalogued fix into a vLLM module's text, and take it out.

``patch_text`` locates the target class and methods with ``ast`` and splices
in the fix's methods, leaving every other line and the file's line endings as
they were. Each wrapped vLLM method keeps its body and is renamed
``_vllm_patches_orig_<name>``; the fix's methods follow it between marker
comments. ``unpatch_text`` is the exact inverse, so a revert gives the
original bytes back: ``patch_text`` checks it before it returns, and refuses
a text it could not take its fix out of again (a line equal to its marker,
line endings it cannot keep apart). Pure text in, text out: callers do the
file I/O, through ``sourcefile``.
"""

from __future__ import annotations

import ast
import re

from vllm_patches.source import messages

from vllm_patches.core import messages as core_messages
from vllm_patches._version import __version__
from vllm_patches.core.catalog import Patch, Target, Wrap
from vllm_patches.core.chains import layered_source, under_name
from vllm_patches.core.markers import (BEGIN, END, ends_a_block, first_marker, has_block,
                                       is_marker, marker)
from vllm_patches.core.shape import class_prints
from vllm_patches.core.sourcefile import newline_of, split_lines
from vllm_patches.core.state import MODIFIED, PATCHED, PRE_FIX, classify


class EditError(Exception):
    """The fix cannot be written into (or taken out of) this text."""


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def _method_block(source: str, target: Target, name: str, indent: str, nl: str) -> list[str]:
    """The fix's function ``name`` from ``source`` (the fix's text), indented for the file."""
    node = class_prints(source, target.class_name).nodes[name]
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])  # @classmethod...
    lines = split_lines(source)[first - 1 : node.end_lineno]
    own = len(lines[0]) - len(lines[0].lstrip())
    out = []
    for line in lines:
        line = line.rstrip("\r\n")
        out.append((indent + line[own:] if line.strip() else "") + nl)
    return out


def _holds_marker(module: str, number: int, marker: str) -> str:
    return (f"{module} already holds a line equal to our marker '{marker}' (line {number}), "
            "so the fix could not be taken out again byte for byte")


def _no_round_trip(patch_id: str, module: str, why: str) -> str:
    return (f"taking {patch_id} out of the edited {module} again would not give its original "
            f"text back byte for byte ({why}), so it is not written")


def _forceable(patch: Patch, target: Target, text: str) -> bool:
    """True when only the bodies of the wrapped methods differ: ``force`` may write the fix.

    Never over a partial or hand-made copy of the fix, which would double it.
    """
    try:
        prints = class_prints(text, target.class_name)
    except SyntaxError:
        return False
    names = set(prints.methods)
    return (
        prints.class_found
        and all(w.name in names for w in target.wraps)
        and not any(w.original_name in names for w in target.wraps)
        and not any(a in names for a in target.adds)
        and not has_block(patch, text)
    )


def patch_text(patch: Patch, target: Target, text: str, *, force: bool = False) -> str:
    """``text`` with the fix of ``patch`` for ``target`` written in.

    Refuses (EditError) unless the target has a known pre-fix shape, or, with
    ``force``, has the methods to wrap (in any shape) and no trace of the fix.
    """
    shape = classify(patch, target, text)
    if shape.kind == PATCHED:
        raise EditError(messages.edit_already_patched(patch.id, target.module))
    if shape.kind != PRE_FIX and not (
        force and shape.kind == MODIFIED and _forceable(patch, target, text)
    ):
        raise EditError(messages.edit_refused(patch.id, target.module, shape.detail or shape.kind))
    held = first_marker(patch, text)
    if held is not None:
        raise EditError(_holds_marker(target.module, *held))
    result = _insert(patch, target, text)
    _check(patch, target, result)
    _check_round_trip(patch, target, text, result)
    return result


def _insert(patch: Patch, target: Target, text: str) -> str:
    """``text`` with each wrapped method renamed and the fix's block after it.

    Where the method is already another patch's fix that this one composes with (its
    original renamed, ``classify`` read through it: ``core.chains``), that fix is the one
    renamed (to ``under_name``), this fix calls it, and the block goes after that fix's."""
    file_nl = newline_of(text)
    lines = split_lines(text)
    methods = class_prints(text, target.class_name).nodes  # the scope's functions that run
    wraps = sorted(target.wraps, key=lambda w: methods[w.name].lineno)
    layered = {w.name for w in wraps if w.original_name in methods}
    source = layered_source(patch, layered) if layered else patch.fix_source
    insertions: dict[int, list[str]] = {}
    for i, wrap in enumerate(wraps):
        node = methods[wrap.name]
        def_line = node.lineno - 1
        indent = re.match(r"[ \t]*", lines[def_line]).group(0)
        keep = under_name(patch.id, wrap.name) if wrap.name in layered else wrap.original_name
        renamed, count = re.subn(
            rf"\bdef(\s+){re.escape(wrap.name)}\b", rf"def\g<1>{keep}", lines[def_line], count=1,
        )
        if not count:
            raise EditError(messages.edit_no_def_line(wrap.name, target.module))
        lines[def_line] = renamed
        end = _block_end(lines, node.end_lineno) if wrap.name in layered else node.end_lineno
        # The block takes the line ending of the line it follows, so that the two never
        # run together (a CR before an LF would read as one CRLF).
        nl = _ending(lines[end - 1]) or file_nl
        names = [wrap.name] + (list(target.adds) if i == len(wraps) - 1 else [])
        block = [nl, marker(BEGIN, patch, indent, nl,
                             f" ({patch.upstream_pr}, vllm-patches {__version__})")]
        for j, name in enumerate(names):
            if j:
                block.append(nl)
            block += _method_block(source, target, name, indent, nl)
        block.append(marker(END, patch, indent, nl))
        insertions[end] = block
    for end in sorted(insertions, reverse=True):
        block = insertions[end]
        if end == len(lines) and not _ending(lines[-1]):
            # The method ends the file without a newline: so does the edited file.
            nl = _ending(block[-1])
            lines[-1] += nl
            block[-1] = block[-1][: -len(nl)]
        lines[end:end] = block
    return "".join(lines)


def _block_end(lines: list[str], after: int) -> int:
    """The number of the line that ends the marked block holding the function that ends
    at line ``after`` (the fix of the patch under this one in a chain)."""
    for number in range(after, len(lines)):
        if ends_a_block(lines[number]):
            return number + 1
    raise EditError(messages.edit_no_end_below())  # never expected: classify found the fix


def _check_round_trip(patch: Patch, target: Target, text: str, result: str) -> None:
    """Refuse unless ``unpatch_text`` gives ``text`` back exactly."""
    try:
        back = unpatch_text(patch, target, result)
    except EditError as exc:
        raise EditError(_no_round_trip(patch.id, target.module, str(exc))) from None
    if back != text:
        old, new = split_lines(text), split_lines(back)
        line = next((i for i, (a, b) in enumerate(zip(old, new), start=1) if a != b),
                    min(len(old), len(new)) + 1)
        raise EditError(_no_round_trip(patch.id, target.module,
                                       f"the text would differ from line {line} on"))


def _class_span(text: str, target: Target) -> tuple[int, int]:
    """0-based [first, past-last) lines of the target class, trailing comments included
    (the whole module for module-level functions)."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise EditError(core_messages.module_unparsable(target.module, exc)) from None
    if target.class_name is None:
        return 0, len(split_lines(text))
    for i in reversed(range(len(tree.body))):  # the last definition is the class that runs
        node = tree.body[i]
        if isinstance(node, ast.ClassDef) and node.name == target.class_name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            if i + 1 == len(tree.body):
                return first, len(split_lines(text))
            after = tree.body[i + 1]
            decorators = getattr(after, "decorator_list", [])
            return first, min([after.lineno] + [d.lineno for d in decorators]) - 1
    raise EditError(core_messages.class_absent(target.scope))


def unpatch_text(patch: Patch, target: Target, text: str) -> str:
    """The inverse of ``patch_text``: the blocks removed, the originals renamed back."""
    lines = split_lines(text)
    first, stop = _class_span(text, target)
    out = lines[:first]
    i = first
    found = False
    while i < stop:
        if is_marker(lines[i], BEGIN, patch):
            found = True
            if out and not out[-1].strip():
                out.pop()  # the blank line patch_text put before the block
            while i < stop and not is_marker(lines[i], END, patch):
                i += 1
            if i == stop:
                raise EditError(messages.edit_unterminated(patch.id, target.module))
            if not _ending(lines[i]) and out:
                out[-1] = out[-1].rstrip("\r\n")  # the file ended without a newline
            i += 1
            continue
        out.append(lines[i])
        i += 1
    if not found:
        raise EditError(messages.edit_not_patched(patch.id, target.module))
    region = "".join(out[first:])
    for wrap in target.wraps:
        kept = _kept_name(patch, wrap, region)
        region, count = re.subn(rf"\bdef(\s+){re.escape(kept)}\b",
                                rf"def\g<1>{wrap.name}", region, count=1)
        if not count:
            raise EditError(messages.edit_no_def_line(kept, target.module))
    return "".join(out[:first]) + region + "".join(lines[stop:])


def _kept_name(patch: Patch, wrap: Wrap, region: str) -> str:
    """The name ``patch_text`` gave what ``patch`` wraps: the fix under it in a chain, or
    vLLM's original."""
    under = under_name(patch.id, wrap.name)
    return under if re.search(rf"\bdef\s+{re.escape(under)}\b", region) else wrap.original_name


def _check(patch: Patch, target: Target, text: str) -> None:
    try:
        compile(text, target.relpath, "exec")
    except SyntaxError as exc:  # pragma: no cover - a bug of ours, never the user's
        raise EditError(messages.edit_broke_syntax(target.module, exc)) from None
    if classify(patch, target, text).kind != PATCHED:
        raise EditError(messages.edit_not_recognised(patch.id, target.module))
