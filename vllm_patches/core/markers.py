"""The marker comments around a fix written into a vLLM module, and how they read back.

``source.edit`` writes a fix's block between ``# >>> vllm-patches <id>`` and
``# <<< vllm-patches <id>``; ``core.state`` reads them to tell whose fix a tree holds.
Both read the one definition here.
"""

from __future__ import annotations

import re

from vllm_patches.core.catalog import Patch
from vllm_patches.core.sourcefile import split_lines

BEGIN = "# >>> vllm-patches {id}"
END = "# <<< vllm-patches {id}"
_BEGIN_TEXT = BEGIN.split("{")[0]
_BEGIN_LINE = re.compile(r"^[ \t]*" + re.escape(_BEGIN_TEXT) + r"(\S+)", re.MULTILINE)


def marker(template: str, patch: Patch, indent: str, nl: str, note: str = "") -> str:
    """One marker line of ``patch`` (``BEGIN`` or ``END``), indented, ``note`` after it."""
    return indent + template.format(id=patch.id) + note + nl


def is_marker(line: str, template: str, patch: Patch) -> bool:
    """True for this patch's marker line (and not that of a patch whose id starts alike)."""
    text = template.format(id=patch.id)
    stripped = line.strip()
    return stripped == text or stripped.startswith(text + " ")


def ends_a_block(line: str) -> bool:
    """True for the end marker of any patch's block."""
    return line.strip().startswith(END.split("{")[0])


def block_ids(text: str) -> set[str]:
    """The ids of the patches whose marked blocks ``text`` holds."""
    if _BEGIN_TEXT not in text:  # most files: no scan of the whole text
        return set()
    return set(_BEGIN_LINE.findall(text))


def has_block(patch: Patch, text: str) -> bool:
    """True when ``text`` holds a marked block of ``patch`` (complete or not)."""
    if BEGIN.format(id=patch.id) not in text:
        return False
    return any(is_marker(line, BEGIN, patch) for line in split_lines(text))


def first_marker(patch: Patch, text: str) -> tuple[int, str] | None:
    """(line number, marker) of the first line of ``text`` that reads as one of the
    markers of ``patch``, or None."""
    for number, line in enumerate(split_lines(text), start=1):
        for template in (BEGIN, END):
            if is_marker(line, template, patch):
                return number, template.format(id=patch.id)
    return None
