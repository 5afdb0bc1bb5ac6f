"""The one reader of vLLM module files, on a real release file stored in every way a fork may.

``tests/filebytes.py`` makes the variants from the bytes of 0.22.1's
``gemma4_mtp.py``; Python's own parser (``ast.parse`` of the bytes, which
honours PEP 263 as an import does) is the oracle for what the text is.
"""

from __future__ import annotations

import ast
import os
import subprocess

import pytest

from tests import filebytes
from tests.gitrepos import FILES, MTP, commit_all, copy_files, git, init_repo
from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch
from vllm_patches.source.edit import patch_text
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.sourcefile import (Newline, SourceTextError, decode_source, diff_bytes,
                                     diff_view, newline_of, read_source)

STABLE = "gemma4-mtp-stable-lm-head"
PATCH = get_patch(STABLE)

# variant: (encoding, BOM, first line ending)
STORED = {
    "lf": ("utf-8", False, Newline.LF),
    "crlf": ("utf-8", False, Newline.CRLF),
    "cr": ("utf-8", False, Newline.CR),
    "bom": ("utf-8", True, Newline.LF),
    "latin1": ("iso-8859-1", False, Newline.LF),
    "cp1252_on_line_two_cr": ("cp1252", False, Newline.CR),
    "mixed_line_ends": ("utf-8", False, Newline.LF),
}


@pytest.fixture
def module_bytes(release) -> bytes:
    return (release("0.22.1") / MTP).read_bytes()


def stored(tmp_path, module_bytes, variant, table=filebytes.TEXT):
    path = tmp_path / "gemma4_mtp.py"
    path.write_bytes(table[variant](module_bytes))
    return path


def test_every_stored_variant_is_listed():
    assert set(STORED) == set(filebytes.TEXT)


@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_each_way_of_storing_the_file_reads_as_python_reads_it(tmp_path, module_bytes, variant):
    path = stored(tmp_path, module_bytes, variant)
    raw = path.read_bytes()
    src = read_source(path)
    assert (src.encoding, src.bom, src.newline) == STORED[variant]
    assert ast.dump(ast.parse(src.text)) == ast.dump(ast.parse(raw))
    assert src.raw == raw


@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_the_same_text_encodes_to_the_same_bytes(tmp_path, module_bytes, variant):
    path = stored(tmp_path, module_bytes, variant)
    src = read_source(path)
    assert src.encode(src.text) == path.read_bytes()


@pytest.mark.parametrize("variant", list(filebytes.TEXT))
def test_an_edited_text_is_written_in_the_file_s_own_encoding(tmp_path, module_bytes, variant):
    src = read_source(stored(tmp_path, module_bytes, variant))
    patched = patch_text(PATCH, PATCH.targets[0], src.text)
    again = decode_source(src.encode(patched), "edited")
    assert (again.text, again.encoding, again.bom) == (patched, src.encoding, src.bom)


def test_a_latin1_file_keeps_its_accented_letter_as_one_byte(tmp_path, module_bytes):
    src = read_source(stored(tmp_path, module_bytes, "latin1"))
    assert "caf\u00e9" in src.text
    assert b"caf\xe9" in src.encode(src.text)


def test_a_character_the_encoding_cannot_hold_is_one_sentence(tmp_path, module_bytes):
    path = stored(tmp_path, module_bytes, "latin1")
    src = read_source(path)
    with pytest.raises(SourceTextError) as caught:
        src.encode(src.text + "# \u2014\n")
    assert "iso-8859-1" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("variant", list(filebytes.NOT_TEXT))
def test_bytes_that_are_not_text_are_one_sentence_naming_the_file(tmp_path, module_bytes,
                                                                   variant):
    path = stored(tmp_path, module_bytes, variant, filebytes.NOT_TEXT)
    with pytest.raises(SourceTextError) as caught:
        read_source(path)
    message = str(caught.value)
    assert isinstance(caught.value, VllmPatchesError)
    assert str(path) in message and "\n" not in message and message.endswith(".")


@pytest.mark.parametrize("variant,says", [
    ("non_utf8_comment", "is not UTF-8 text (byte 0xe9 on line {appended})"),
    ("non_utf8_first_line", "is not UTF-8 text (byte 0xe9 on line 1)"),
    ("unknown_coding", "unknown encoding: klingon"),
    ("bom_and_latin1", "byte order mark but its coding line declares another encoding"),
    ("ascii_declared", "is not ascii text, the encoding its coding line declares"),
])
def test_each_sentence_says_what_is_wrong(tmp_path, module_bytes, variant, says):
    path = stored(tmp_path, module_bytes, variant, filebytes.NOT_TEXT)
    with pytest.raises(SourceTextError) as caught:
        read_source(path)
    assert says.format(appended=module_bytes.count(b"\n") + 1) in str(caught.value)


def test_a_folder_or_a_pipe_is_one_sentence_and_a_missing_file_is_for_the_caller(tmp_path):
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(SourceTextError, match="is a directory, not a Python module file"):
        read_source(tmp_path / "folder.py")
    os.mkfifo(tmp_path / "pipe.py")  # reading it would block for ever
    with pytest.raises(SourceTextError, match="is not a regular file"):
        read_source(tmp_path / "pipe.py")
    with pytest.raises(FileNotFoundError):
        read_source(tmp_path / "absent.py")


@pytest.mark.parametrize("text,newline", [
    ("a\nb\r\n", Newline.LF), ("a\r\nb\n", Newline.CRLF), ("a\rb\n", Newline.CR),
    ("no line end", Newline.LF), ("", Newline.LF),
])
def test_the_newline_is_the_first_line_ending(text, newline):
    assert newline_of(text) is newline


@pytest.mark.parametrize("variant", list(filebytes.TEXT) + list(filebytes.NOT_TEXT))
def test_a_diff_carries_any_bytes_unchanged(module_bytes, variant):
    raw = {**filebytes.TEXT, **filebytes.NOT_TEXT}[variant](module_bytes)
    assert diff_bytes(diff_view(raw)) == raw


# The other readers: a fork branch read from git -------------------------------------------
def test_backport_reads_and_writes_a_latin1_branch_in_latin1(tmp_path, release):
    repo = init_repo(tmp_path / "fork")
    copy_files(release("0.22.1"), repo, FILES)
    original = filebytes.latin1((repo / MTP).read_bytes())
    (repo / MTP).write_bytes(original)
    commit_all(repo, "vLLM 0.22.1, stored in Latin-1")
    git(repo, "tag", "v0.22.1")

    proc = run_cli("backport", "--repo", str(repo), "--onto", "main", STABLE)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    committed = subprocess.run(["git", "show", f"backport/{STABLE}/main:{MTP}"], cwd=repo,
                               capture_output=True, check=True).stdout
    src = decode_source(original, MTP)
    assert committed == src.encode(patch_text(PATCH, PATCH.targets[0], src.text))
