"""A real module's bytes, stored the ways a fork's file may store them.

Each function takes the bytes of a vLLM module (UTF-8, LF, as the wheels
ship them) and returns them stored another way: other line endings, a BOM,
an encoding declared on a coding line (PEP 263), or bytes that are not text
at all. None of them copies vLLM text into this repository.
"""

from __future__ import annotations

import ast
import codecs

from tests import forks
from vllm_patches.core.shape import find_class
from vllm_patches.core.sourcefile import split_lines

LATIN1_COOKIE = "# -*- coding: latin-1 -*-"
METHOD = "_get_full_lm_head_weight"  # the default target (of forks.CLASS); store() names others


def _comment_in_target_method(text: str, comment: str, cls: str | None, name: str) -> str:
    """``comment`` as the first body line of the wrapped ``cls.name``: a line the fix's diff
    shows as context (the ``def`` line above it is renamed)."""
    node = forks.method(text, name, cls)
    lines = split_lines(text)
    at = node.body[0].lineno - 1
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    nl = lines[at][len(lines[at].rstrip("\r\n")):]
    lines[at:at] = [f"{indent}{comment}{nl}"]
    return "".join(lines)


# Text in other clothes: each reads, patches and reverts byte for byte -----------------
def lf(raw: bytes) -> bytes:
    return raw


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def cr(raw: bytes) -> bytes:
    """Classic Mac OS line ends: a CR alone ends each line (Python reads it so too)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def bom(raw: bytes) -> bytes:
    return codecs.BOM_UTF8 + raw


def latin1(raw: bytes, cls: str | None = forks.CLASS, name: str = METHOD) -> bytes:
    """Declared ``latin-1`` on line 1, with a Latin-1 byte (an e-acute) beside the fix."""
    text = raw.decode("utf-8").replace("\u2014", "--")  # an em dash, which Latin-1 lacks
    text = _comment_in_target_method(text, "# caf\u00e9: a fork's note", cls, name)
    return (f"{LATIN1_COOKIE}\n" + text).encode("latin-1")


def cp1252_on_line_two_cr(raw: bytes) -> bytes:
    """Declared ``cp1252`` on line 2 (line 1 is a comment), CR line ends; its em dash is
    the single byte 0x97."""
    lines = raw.decode("utf-8").split("\n")
    assert lines[0].startswith("#")
    text = "\r".join(lines[:1] + ["# vim: set fileencoding=cp1252 :"] + lines[1:])
    return text.encode("cp1252")


def mixed_line_ends(raw: bytes, cls: str | None = forks.CLASS, name: str = METHOD) -> bytes:
    """LF lines, but the target class's (or function's) own lines end with a CR alone."""
    text = raw.decode("utf-8")
    cls = find_class(ast.parse(text), cls) if cls else forks.method(text, name, None)
    lines = split_lines(text)
    for i in range(cls.lineno - 1, cls.end_lineno):
        lines[i] = lines[i].rstrip("\n") + "\r"
    return "".join(lines).encode("utf-8")


TEXT = {f.__name__: f for f in (lf, crlf, cr, bom, latin1, cp1252_on_line_two_cr,
                                  mixed_line_ends)}
_PLACED = (latin1, mixed_line_ends)  # the ones that change the target's own lines


def store(variant: str, raw: bytes, cls: str | None = forks.CLASS, name: str = METHOD) -> bytes:
    """``raw`` stored as ``variant``, for a patch that wraps ``cls.name``."""
    make = TEXT[variant]
    return make(raw, cls, name) if make in _PLACED else make(raw)


# Bytes that are not text: each is refused in one sentence that names the file -------
def non_utf8_comment(raw: bytes) -> bytes:
    """A Latin-1 byte in a comment at the end, and no coding line."""
    return raw + b"# caf\xe9\n"


def non_utf8_first_line(raw: bytes) -> bytes:
    return b"# caf\xe9\n" + raw


def unknown_coding(raw: bytes) -> bytes:
    return b"# -*- coding: klingon -*-\n" + raw


def bom_and_latin1(raw: bytes) -> bytes:
    return codecs.BOM_UTF8 + f"{LATIN1_COOKIE}\n".encode() + raw


def ascii_declared(raw: bytes) -> bytes:
    """Declared ``ascii``, holding a UTF-8 e-acute (in a comment at the end)."""
    return b"# -*- coding: ascii -*-\n" + raw + "# caf\u00e9\n".encode()


NOT_TEXT = {f.__name__: f for f in (non_utf8_comment, non_utf8_first_line, unknown_coding,
                                      bom_and_latin1, ascii_declared)}
