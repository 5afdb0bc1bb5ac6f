"""Fork drift, made from a real vLLM file: the changes forks make to vLLM's code.

Each function takes the text of a module and returns it changed the way a
fork might change it; none of them copies vLLM text into this repository.
"""

from __future__ import annotations

import ast
import re

from vllm_patches.core.sourcefile import split_lines
from vllm_patches.core.shape import find_class, find_method

CLASS = "Gemma4MTP"  # the default scope of the Gemma 4 tests; the others name theirs


def method(text: str, name: str, cls: str | None = CLASS) -> ast.FunctionDef:
    """The definition of ``cls.name``, or of the module's function ``name`` (``cls`` None)."""
    tree = ast.parse(text)
    scope = tree if cls is None else find_class(tree, cls)
    node = find_method(scope, name)
    assert node is not None, f"{cls}.{name} not found"
    return node


def reformat(text: str, name: str, cls: str | None = CLASS) -> str:
    """The same code laid out another way: the ``def`` over several lines, each
    call's arguments on lines of their own, a comment and a blank line added."""
    node = method(text, name, cls)
    lines = split_lines(text)
    for i in range(node.end_lineno - 1, node.lineno - 1, -1):
        m = re.match(r"^(\s*)(.*\S)\(([^()]+)\)(\r?\n)$", lines[i])
        if m:
            ind, head, args, nl = m.groups()
            lines[i] = f"{ind}{head}({nl}{ind}    {args},{nl}{ind})  # reformatted{nl}"
    first_body = node.body[0].lineno - 1
    ind = re.match(r"\s*", lines[first_body]).group(0)
    nl = lines[first_body][len(lines[first_body].rstrip("\r\n")):]
    lines[first_body:first_body] = [f"{ind}# a fork's comment{nl}", nl]
    m = re.match(r"^(\s*)def (\w+)\((.*)\)(.*):(\r?\n)$", lines[node.lineno - 1])
    assert m, "expected a one-line def"
    ind, fname, params, ret, nl = m.groups()
    lines[node.lineno - 1] = f"{ind}def {fname}({nl}{ind}    {params},{nl}{ind}){ret}:{nl}"
    return "".join(lines)


def add_method(text: str, cls: str = CLASS) -> str:
    """A method of the fork's own, added before ``__init__``."""
    node = method(text, "__init__", cls)
    lines = split_lines(text)
    nl = "\r\n" if lines[0].endswith("\r\n") else "\n"
    at = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    lines[at:at] = [f"    def fork_helper(self):{nl}", f"        return 'fork'{nl}", nl]
    return "".join(lines)


def edit_line(text: str, name: str, cls: str | None = CLASS) -> str:
    """A line of the fork's own inside method ``name``: the code does something else."""
    node = method(text, name, cls)
    lines = split_lines(text)
    at = node.body[0].lineno - 1
    ind = re.match(r"\s*", lines[at]).group(0)
    nl = lines[at][len(lines[at].rstrip("\r\n")):]
    line = ("self.fork_calls = getattr(self, 'fork_calls', 0) + 1" if cls
            else "fork_calls = 1  # a fork's own line")
    lines[at:at] = [f"{ind}{line}{nl}"]
    return "".join(lines)


def crlf(text: str) -> str:
    """Windows line endings throughout."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def no_final_newline(text: str) -> str:
    return text.rstrip("\r\n")


def odd_line_breaks(text: str, cls: str = CLASS) -> str:
    """A form feed and a U+2028 inside comments above the class (``str.splitlines``
    counts them as line breaks; Python does not)."""
    node = find_class(ast.parse(text), cls)
    lines = split_lines(text)
    at = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    lines[at:at] = ["# section\x0c break\n", "# a line\u2028separator\n"]
    return "".join(lines)


def other_class_first(text: str, *defs: str) -> str:
    """A class of the fork's own, at the top of the module, with methods named ``defs``."""
    body = "".join(f"    def {d}(self):\n        pass\n" for d in defs)
    return f"class ForkOwn:\n{body}\n\n" + text
