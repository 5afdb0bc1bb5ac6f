"""The one reader of vLLM module files: their text, and the exact bytes to write it back.

A Python module is bytes in the encoding its first two lines declare (PEP
263; UTF-8 when they declare none, and always with a UTF-8 byte order mark).
``read_source``/``decode_source`` give its text with every line ending kept
as it is (LF, CRLF or CR: ``ast`` numbers lines the same way) and remember
how it was stored, so that ``SourceText.encode`` turns the same text, or an
edited one, back into bytes of the same encoding, with the same BOM::

    src = read_source(path)            # SourceTextError: one sentence naming the file
    src.text, src.encoding, src.bom, src.newline
    src.encode(src.text) == src.raw    # always: checked when the file is read
    src.encode(edited)                 # SourceTextError when the encoding cannot hold it

``diff_view``/``diff_bytes`` carry a file's bytes through the str of a
unified diff unchanged, so that ``git apply`` finds them, whatever the
file's encoding.
"""

from __future__ import annotations

import codecs
import re
import stat
import tokenize
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from vllm_patches.core import messages
from vllm_patches.core.errors import VllmPatchesError

DEFAULT_ENCODING = "utf-8"
_BOM_ENCODING = "utf-8-sig"  # what tokenize.detect_encoding says for a file with a BOM
_ENDING = re.compile(r"\r\n|\r|\n")
_BYTE_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BYTE_ENDING = re.compile(rb"\r\n|\r|\n")
# Python's tokenizer ends lines at \r\n, \r and \n only; str.splitlines also
# splits at form feeds, U+2028 and more, which would shift ast's line numbers.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class SourceTextError(VllmPatchesError):
    """A module's bytes cannot be read as Python text, or an edit cannot be stored in them."""


class Newline(str, Enum):
    """A file's line ending (the first one it uses); the value is the characters."""

    LF = "\n"
    CRLF = "\r\n"
    CR = "\r"


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings, numbered as ``ast`` numbers them."""
    return _LINE.findall(text)


def newline_of(text: str) -> Newline:
    """The first line ending in ``text``; LF when it has none."""
    match = _ENDING.search(text)
    return Newline(match.group(0)) if match else Newline.LF


@dataclass(frozen=True)
class SourceText:
    """One module's text and how its bytes hold it."""

    where: str  # the file (or blob) named in messages
    text: str  # without the BOM, line endings as in the file
    encoding: str  # the codec of the text after the BOM, as Python names it ("utf-8", "iso-8859-1")
    bom: bool
    newline: Newline
    raw: bytes = field(repr=False, default=b"")  # the bytes read

    def encode(self, text: str) -> bytes:
        """``text`` as bytes of this file's encoding (and BOM); exact: decoding them gives
        ``text`` back under the same encoding. SourceTextError when it cannot."""
        data = _encode(text, self.encoding, self.bom, self.where)
        back = decode_source(data, self.where)
        if back.text != text or back.encoding != self.encoding or back.bom != self.bom:
            raise SourceTextError(_not_kept(self.where, self.encoding))
        return data


def read_source(path: Path | str) -> SourceText:
    """The text of the module file at ``path``.

    FileNotFoundError when there is none (the caller decides what absent
    means); SourceTextError, one sentence naming the file, for anything else
    that keeps it from being read: a folder, a pipe or device (which could
    block the read for ever), no permission, bytes that are not text in the
    encoding it declares.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise SourceTextError(_not_a_file(path))
        if not stat.S_ISREG(mode):
            raise SourceTextError(_not_regular(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SourceTextError(messages.unreadable_module(path, exc)) from None
    return decode_source(raw, path)


def decode_source(raw: bytes, where: object) -> SourceText:
    """``raw``, a module's bytes, as text (``where`` names the file in a SourceTextError)."""
    where = str(where)
    lines = (m.group(0) for m in _BYTE_LINE.finditer(raw))
    try:
        declared, _ = tokenize.detect_encoding(lambda: next(lines, b""))
    except SyntaxError as exc:
        if str(exc.msg).startswith("invalid or missing encoding declaration"):
            raise SourceTextError(_undecodable(where, raw, DEFAULT_ENCODING, False)) from None
        if raw.startswith(codecs.BOM_UTF8):
            raise SourceTextError(_bom_and_declaration(where)) from None
        raise SourceTextError(_bad_declaration(where, exc)) from None
    bom = declared == _BOM_ENCODING
    encoding = DEFAULT_ENCODING if bom else declared
    body = raw[len(codecs.BOM_UTF8):] if bom else raw
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise SourceTextError(
            _undecodable(where, body, encoding, declared != DEFAULT_ENCODING)) from None
    try:
        same = _encode(text, encoding, bom, where) == raw
    except SourceTextError:
        same = False
    if not same:
        raise SourceTextError(_not_kept(where, encoding))
    return SourceText(where, text, encoding, bom, newline_of(text), raw)


def _encode(text: str, encoding: str, bom: bool, where: str) -> bytes:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise SourceTextError(_cannot_hold(where, encoding, exc.object[exc.start])) from None
    except LookupError:
        raise SourceTextError(_not_kept(where, encoding)) from None
    return (codecs.BOM_UTF8 if bom else b"") + data


# Diffs --------------------------------------------------------------------------
def diff_view(data: bytes) -> str:
    """A file's bytes as a str for difflib: each byte that is not UTF-8 kept as itself
    (``diff_bytes`` gives it back), a BOM in the first line as git sees it."""
    return data.decode("utf-8", "surrogateescape")


def diff_bytes(diff: str) -> bytes:
    """The bytes of a diff built from ``diff_view`` strings."""
    return diff.encode("utf-8", "surrogateescape")


# Messages -----------------------------------------------------------------------
def _not_a_file(path: object) -> str:
    return (f"{path} is a directory, not a Python module file; "
            "vllm-patches reads and edits files only.")


def _not_regular(path: object) -> str:
    return (f"{path} is not a regular file (a pipe, socket or device); "
            "vllm-patches reads and edits files only.")


def _first_bad_byte(data: bytes, encoding: str) -> str:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = len(_BYTE_ENDING.findall(data[: exc.start])) + 1
        return f"byte 0x{data[exc.start]:02x} on line {line}"
    except LookupError:
        pass
    return "its bytes"


def _undecodable(where: str, data: bytes, encoding: str, declared: bool) -> str:
    if declared:
        return (f"{where} is not {encoding} text, the encoding its coding line declares "
                f"({_first_bad_byte(data, encoding)}); fix the file or its coding line (PEP 263).")
    return (f"{where} is not UTF-8 text ({_first_bad_byte(data, encoding)}) and declares no "
            "other encoding on its first two lines; fix that byte or declare the file's "
            "encoding on a coding line (PEP 263).")


def _bad_declaration(where: str, exc: SyntaxError) -> str:
    return (f"{where} declares a source encoding that Python cannot use ({exc.msg}); "
            "fix its coding line (PEP 263).")


def _bom_and_declaration(where: str) -> str:
    return (f"{where} starts with a UTF-8 byte order mark but its coding line declares another "
            "encoding; Python cannot import it (PEP 263).")


def _not_kept(where: str, encoding: str) -> str:
    return (f"{where} does not read back byte for byte in its declared encoding {encoding}, "
            "so vllm-patches cannot edit it safely.")


def _cannot_hold(where: str, encoding: str, char: str) -> str:
    return (f"the fix holds a character ({char!r}) that {where}'s encoding {encoding} "
            "cannot store; nothing was written.")
