"""The source edit, on the real files of vLLM releases and on fork drift made from them."""

from __future__ import annotations

import dataclasses
import difflib
import random

import pytest

from tests import forks
from tests.conftest import AFFECTED, FIXED
from vllm_patches.core.catalog import get_patch
from vllm_patches.core.markers import BEGIN, END, has_block
from vllm_patches.core.sourcefile import newline_of, split_lines
from vllm_patches.source.edit import EditError, patch_text, unpatch_text
from vllm_patches.core.state import MODIFIED, PATCHED, PRE_FIX, classify

STABLE = "gemma4-mtp-stable-lm-head"
RELOAD = "gemma4-mtp-lm-head-reload"
CASES = [(v, STABLE) for v in AFFECTED] + [(FIXED, RELOAD)]


def real_text(release, version: str, patch) -> str:
    return (release(version) / patch.targets[0].relpath).read_bytes().decode("utf-8")


def round_trip(patch, text: str) -> str:
    """Patch, check, unpatch; returns the patched text."""
    target = patch.targets[0]
    patched = patch_text(patch, target, text)
    compile(patched, target.relpath, "exec")
    assert classify(patch, target, patched).kind == PATCHED
    assert unpatch_text(patch, target, patched) == text
    return patched


@pytest.mark.parametrize("version,patch_id", CASES)
def test_patch_then_unpatch_gives_the_original_text_back(release, version, patch_id):
    patch = get_patch(patch_id)
    text = real_text(release, version, patch)
    assert classify(patch, patch.targets[0], text).kind == PRE_FIX
    round_trip(patch, text)


@pytest.mark.parametrize("version,patch_id", CASES)
def test_patch_only_renames_the_wrapped_defs_and_adds_lines(release, version, patch_id):
    patch = get_patch(patch_id)
    text = real_text(release, version, patch)
    patched = patch_text(patch, patch.targets[0], text)
    removed = [l for l in difflib.ndiff(split_lines(text), split_lines(patched))
               if l.startswith("- ")]
    wrapped = {w.name for w in patch.targets[0].wraps}
    assert len(removed) == len(wrapped)
    assert all(any(f"def {name}(" in line for name in wrapped) for line in removed)


def test_crlf_file_stays_crlf(release):
    patch = get_patch(STABLE)
    text = forks.crlf(real_text(release, "0.22.1", patch))
    patched = round_trip(patch, text)
    assert newline_of(patched) == "\r\n"
    assert all(line.endswith("\r\n") for line in split_lines(patched))


def test_file_without_final_newline_keeps_it_so(release):
    patch = get_patch(STABLE)
    text = forks.no_final_newline(real_text(release, "0.22.1", patch))
    patched = round_trip(patch, text)
    assert not patched.endswith(("\n", "\r"))


def test_form_feeds_and_unicode_line_separators_do_not_shift_lines(release):
    patch = get_patch(STABLE)
    text = forks.odd_line_breaks(real_text(release, "0.22.1", patch))
    assert len(text.splitlines()) != len(split_lines(text))  # the trap is set
    round_trip(patch, text)


@pytest.mark.parametrize("name", ["_get_full_lm_head_weight", "load_weights"])
def test_reformatted_target_method_is_patched(release, name):
    patch = get_patch(STABLE)
    original = real_text(release, "0.22.1", patch)
    text = forks.reformat(original, name)
    assert text != original and classify(patch, patch.targets[0], text).kind == PRE_FIX
    round_trip(patch, text)


def test_method_added_elsewhere_in_the_class_is_kept(release):
    patch = get_patch(STABLE)
    text = forks.add_method(real_text(release, "0.22.1", patch))
    patched = round_trip(patch, text)
    assert "def fork_helper(self):" in patched


def test_edited_target_method_is_refused_naming_it(release):
    patch = get_patch(STABLE)
    text = forks.edit_line(real_text(release, "0.22.1", patch), "load_weights")
    with pytest.raises(EditError, match=r"Gemma4MTP\.load_weights differs"):
        patch_text(patch, patch.targets[0], text)


def test_force_writes_the_fix_over_an_edited_method(release):
    patch = get_patch(STABLE)
    text = forks.edit_line(real_text(release, "0.22.1", patch), "load_weights")
    patched = patch_text(patch, patch.targets[0], text, force=True)
    assert classify(patch, patch.targets[0], patched).kind == PATCHED
    assert "fork_calls" in patched
    assert unpatch_text(patch, patch.targets[0], patched) == text


def test_force_never_writes_over_part_of_the_fix(release):
    patch = get_patch(STABLE)
    target = patch.targets[0]
    patched = patch_text(patch, target, real_text(release, "0.22.1", patch))
    half = patched.replace("def _vllm_patches_orig_load_weights", "def load_weights_old")
    assert classify(patch, target, half).kind == MODIFIED
    with pytest.raises(EditError, match="part of a vllm-patches fix"):
        patch_text(patch, target, half, force=True)


def test_already_patched_text_is_refused(release):
    patch = get_patch(STABLE)
    patched = patch_text(patch, patch.targets[0], real_text(release, "0.22.1", patch))
    with pytest.raises(EditError, match="already written"):
        patch_text(patch, patch.targets[0], patched, force=True)


def test_unpatch_leaves_blocks_of_a_patch_whose_id_only_starts_alike(release):
    patch = get_patch(STABLE)
    longer = dataclasses.replace(patch, id=patch.id + "-v2")
    patched = patch_text(longer, patch.targets[0], real_text(release, "0.22.1", patch))
    assert has_block(longer, patched) and not has_block(patch, patched)
    with pytest.raises(EditError, match="holds no vllm-patches block"):
        unpatch_text(patch, patch.targets[0], patched)


def test_unpatch_renames_only_inside_the_target_class(release):
    patch = get_patch(STABLE)
    text = forks.other_class_first(real_text(release, "0.22.1", patch),
                                   "_vllm_patches_orig_load_weights")
    round_trip(patch, text)


# The round trip, checked before anything is written -----------------------------------
def test_cr_line_ends_stay_cr_and_round_trip(release):
    patch = get_patch(STABLE)
    text = real_text(release, "0.22.1", patch).replace("\n", "\r")
    patched = round_trip(patch, text)
    assert "\n" not in patched and newline_of(patched) == "\r"


@pytest.mark.parametrize("seed", range(12))
def test_any_mix_of_line_ends_round_trips_or_is_refused(release, seed):
    """Each line ends with LF, CRLF or CR at random: the edit either takes its fix out
    again byte for byte, or refuses before returning anything."""
    patch = get_patch(STABLE)
    target = patch.targets[0]
    rng = random.Random(seed)
    text = "".join(line.rstrip("\n") + rng.choice(["\n", "\r\n", "\r"])
                   for line in split_lines(real_text(release, "0.22.1", patch)))
    try:
        patched = patch_text(patch, target, text)
    except EditError as exc:
        assert "byte for byte" in str(exc)
        return
    assert classify(patch, target, patched).kind == PATCHED
    assert unpatch_text(patch, target, patched) == text


def marker_line(patch, template: str, note: str = "") -> str:
    return template.format(id=patch.id) + note


@pytest.mark.parametrize("where", ["before load_weights", "at the end of the class",
                                   "at the top of the module"])
@pytest.mark.parametrize("template,note", [(BEGIN, ""), (BEGIN, " (a fork's copy)"), (END, "")],
                         ids=["begin marker", "begin marker with a note", "end marker"])
def test_a_line_equal_to_our_marker_is_refused(release, where, template, note):
    patch = get_patch(STABLE)
    target = patch.targets[0]
    text = real_text(release, "0.22.1", patch)
    lines = split_lines(text)
    node = forks.method(text, "load_weights")
    at = {"before load_weights": node.lineno - 1, "at the end of the class": node.end_lineno,
          "at the top of the module": 0}[where]
    indent = "" if at == 0 else "    "
    lines[at:at] = [f"{indent}{marker_line(patch, template, note)}\n"]
    text = "".join(lines)
    assert classify(patch, target, text).kind == PRE_FIX  # a comment changes no code
    with pytest.raises(EditError, match="already holds a line equal to our marker"):
        patch_text(patch, target, text)


def test_a_text_the_fix_could_not_be_taken_out_of_is_refused(release):
    """A fork's comment that names the renamed original before its ``def``: taking the fix
    out would rename the comment back, not the method; refused before anything is written."""
    patch = get_patch(STABLE)
    target = patch.targets[0]
    text = real_text(release, "0.22.1", patch)
    lines = split_lines(text)
    at = forks.method(text, "load_weights").lineno - 1
    lines[at:at] = ["    # was: def _vllm_patches_orig_load_weights, see upstream\n"]
    text = "".join(lines)
    assert classify(patch, target, text).kind == PRE_FIX
    with pytest.raises(EditError, match="would not give its original text back byte for byte"):
        patch_text(patch, target, text)
