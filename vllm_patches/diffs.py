"""Unified diffs of one file, as ``git apply -p1`` and ``git am`` take them."""

from __future__ import annotations

import difflib

from .edit import split_lines


def unified_diff(rel: str, old: str, new: str, index: str | None = None) -> str:
    """The diff of ``rel`` (a/ and b/ prefixes); ``index``: git's ``index a..b mode`` line.

    Lines split as ``ast`` counts them (``edit.split_lines``), and a last line
    without its newline is marked as git marks it. Empty when nothing changed.
    """
    head = [f"diff --git a/{rel} b/{rel}\n"] + ([f"index {index}\n"] if index else [])
    body = []
    for line in difflib.unified_diff(split_lines(old), split_lines(new),
                                     f"a/{rel}", f"b/{rel}", lineterm="\n"):
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        body.append(line)
    return "".join(head + body) if body else ""
