"""Unified diffs of one file, as ``git apply -p1`` and ``git am`` take them."""

from __future__ import annotations

import difflib
import re

# git's lines: each ends at LF only, so a CR (alone, or before the LF) is part of the
# line; str.splitlines would also split at CRs, form feeds, U+2028 and more.
_GIT_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def git_lines(text: str) -> list[str]:
    """The lines of ``text`` as git counts them, with their LFs."""
    return _GIT_LINE.findall(text)


def unified_diff(rel: str, old: str, new: str, index: str | None = None) -> str:
    """The diff of ``rel`` (a/ and b/ prefixes); ``index``: git's ``index a..b mode`` line.

    Lines split as git splits them (``git_lines``: a file with CR line ends is
    one line to git), and a last line without its LF is marked as git marks
    it. ``old`` and ``new`` are ``sourcefile.diff_view`` strings of the file's
    bytes; write the result with ``sourcefile.diff_bytes``. Empty when nothing
    changed.
    """
    head = [f"diff --git a/{rel} b/{rel}\n"] + ([f"index {index}\n"] if index else [])
    body = []
    for line in difflib.unified_diff(git_lines(old), git_lines(new),
                                     f"a/{rel}", f"b/{rel}", lineterm="\n"):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        body.append(line)
    return "".join(head + body) if body else ""


def fix_diff(patch, root, *, in_the_files: bool) -> str:
    """The unified diff of ``patch``'s fix in the tree at ``root`` (the folder that holds
    ``vllm/``): what applying it writes, or, ``in_the_files``, what was written (the
    current files against their text with the fix taken out). For a VEX document's
    pedigree, where a scanner reads what changed in the component."""
    from pathlib import Path

    from vllm_patches.core.sourcefile import diff_view, read_source
    from vllm_patches.source.edit import patch_text, unpatch_text

    parts = []
    for target in patch.targets:
        source = read_source(Path(root) / target.relpath)
        if in_the_files:
            old, new = unpatch_text(patch, target, source.text), source.text
        else:
            old, new = source.text, patch_text(patch, target, source.text)
        parts.append(unified_diff(target.relpath, diff_view(source.encode(old)),
                                  diff_view(source.encode(new))))
    return "".join(parts)
