"""The source edit, on the real files of vLLM releases and on fork drift made from them.

The patches are the synthetic ones (tests/synthetic.py): a method wrap that adds a method,
a module function wrap, a method whose shape differs by release, on each of two releases.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from tests import forks
from tests.synthetic import FUNCTION, METHOD, RELEASES, SHAPES, SPECS, pre_fix_releases
from vllm_patches.core.markers import BEGIN, END, has_block
from vllm_patches.core.sourcefile import newline_of, split_lines
from vllm_patches.core.state import MODIFIED, PATCHED, PRE_FIX, classify
from vllm_patches.source.edit import EditError, patch_text, unpatch_text

CASES = [pytest.param(spec, version, id=f"{spec.id}-{version}")
         for spec in SPECS for version in pre_fix_releases(spec)]
CLASSES = [pytest.param(spec, version, id=f"{spec.id}-{version}")
           for spec in (METHOD, SHAPES) for version in RELEASES]
ANY = [pytest.param(METHOD, version, id=version) for version in RELEASES]


def real_text(release, version: str, spec) -> str:
    return (release(version) / spec.relpath).read_bytes().decode("utf-8")


def round_trip(patch, text: str) -> str:
    """Patch, check, unpatch; returns the patched text."""
    target = patch.targets[0]
    patched = patch_text(patch, target, text)
    compile(patched, target.relpath, "exec")
    assert classify(patch, target, patched).kind == PATCHED
    assert unpatch_text(patch, target, patched) == text
    return patched


@pytest.mark.parametrize("spec,version", CASES)
def test_patch_then_unpatch_gives_the_original_text_back(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = real_text(release, version, spec)
    assert classify(patch, patch.targets[0], text).kind == PRE_FIX
    round_trip(patch, text)


@pytest.mark.parametrize("spec,version", CASES)
def test_patch_only_renames_the_wrapped_defs_and_adds_lines(release, synthetic, spec, version):
    """Outside its marked blocks (and the blank line that opens each) the patched text is
    vLLM's, line for line, but for the ``def`` line of each wrapped function, renamed."""
    patch = synthetic.patch(spec)
    text = real_text(release, version, spec)
    kept, inside = [], False
    for line in split_lines(patch_text(patch, patch.targets[0], text)):
        stripped = line.strip()
        if stripped.startswith(BEGIN.format(id=patch.id)):
            assert kept.pop().strip() == ""
            inside = True
        elif stripped == END.format(id=patch.id):
            inside = False
        elif not inside:
            kept.append(line)
    renames = {f"def {w.original_name}(": f"def {w.name}(" for w in patch.targets[0].wraps}
    renamed = [line for line in kept if any(old in line for old in renames)]
    assert len(renamed) == len(renames)
    for old, new in renames.items():
        kept = [line.replace(old, new) for line in kept]
    assert kept == split_lines(text)


def test_a_method_the_fix_adds_is_written_into_the_class_and_taken_out(release, synthetic):
    patch = synthetic.patch(METHOD)
    text = real_text(release, RELEASES[0], METHOD)
    patched = round_trip(patch, text)
    node = forks.method(patched, METHOD.adds[0], METHOD.class_name)
    assert forks.method(patched, METHOD.original, METHOD.class_name).lineno < node.lineno


@pytest.mark.parametrize("spec,version", ANY)
def test_crlf_file_stays_crlf(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.crlf(real_text(release, version, spec))
    patched = round_trip(patch, text)
    assert newline_of(patched) == "\r\n"
    assert all(line.endswith("\r\n") for line in split_lines(patched))


@pytest.mark.parametrize("spec,version", ANY)
def test_file_without_final_newline_keeps_it_so(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.no_final_newline(real_text(release, version, spec))
    patched = round_trip(patch, text)
    assert not patched.endswith(("\n", "\r"))


@pytest.mark.parametrize("spec,version", CLASSES)
def test_form_feeds_and_unicode_line_separators_do_not_shift_lines(release, synthetic, spec,
                                                                   version):
    patch = synthetic.patch(spec)
    text = forks.odd_line_breaks(real_text(release, version, spec), spec.class_name)
    assert len(text.splitlines()) != len(split_lines(text))  # the trap is set
    round_trip(patch, text)


@pytest.mark.parametrize("spec,version", CASES)
def test_reformatted_target_is_patched(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    original = real_text(release, version, spec)
    text = forks.reformat(original, spec.name, spec.class_name)
    assert text != original and classify(patch, patch.targets[0], text).kind == PRE_FIX
    round_trip(patch, text)


@pytest.mark.parametrize("spec,version", [pytest.param(SHAPES, v, id=v) for v in RELEASES])
def test_method_added_elsewhere_in_the_class_is_kept(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.add_method(real_text(release, version, spec), spec.class_name)
    patched = round_trip(patch, text)
    assert "def fork_helper(self):" in patched


@pytest.mark.parametrize("spec,version", CASES)
def test_edited_target_is_refused_naming_it(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.edit_line(real_text(release, version, spec), spec.name, spec.class_name)
    where = f"{spec.class_name}.{spec.name}" if spec.class_name else spec.qualname
    with pytest.raises(EditError, match=rf"{where.replace('.', '[.]')} differs"):
        patch_text(patch, patch.targets[0], text)


@pytest.mark.parametrize("spec,version", CASES)
def test_force_writes_the_fix_over_an_edited_target(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.edit_line(real_text(release, version, spec), spec.name, spec.class_name)
    patched = patch_text(patch, patch.targets[0], text, force=True)
    assert classify(patch, patch.targets[0], patched).kind == PATCHED
    assert "fork_calls" in patched
    assert unpatch_text(patch, patch.targets[0], patched) == text


@pytest.mark.parametrize("spec,version", ANY)
def test_force_never_writes_over_part_of_the_fix(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    target = patch.targets[0]
    patched = patch_text(patch, target, real_text(release, version, spec))
    half = patched.replace(f"def {spec.original}", f"def {spec.name}_old")
    assert classify(patch, target, half).kind == MODIFIED
    with pytest.raises(EditError, match="part of a vllm-patches fix"):
        patch_text(patch, target, half, force=True)


@pytest.mark.parametrize("spec,version", CASES)
def test_already_patched_text_is_refused(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    patched = patch_text(patch, patch.targets[0], real_text(release, version, spec))
    with pytest.raises(EditError, match="already written"):
        patch_text(patch, patch.targets[0], patched, force=True)


@pytest.mark.parametrize("spec,version", ANY)
def test_unpatch_leaves_blocks_of_a_patch_whose_id_only_starts_alike(release, synthetic, spec,
                                                                     version):
    patch = synthetic.patch(spec)
    longer = dataclasses.replace(patch, id=patch.id + "-v2")
    patched = patch_text(longer, patch.targets[0], real_text(release, version, spec))
    assert has_block(longer, patched) and not has_block(patch, patched)
    with pytest.raises(EditError, match="holds no vllm-patches block"):
        unpatch_text(patch, patch.targets[0], patched)


@pytest.mark.parametrize("spec,version", CLASSES)
def test_unpatch_renames_only_inside_the_target_class(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = forks.other_class_first(real_text(release, version, spec), spec.original)
    round_trip(patch, text)


# The round trip, checked before anything is written -----------------------------------
@pytest.mark.parametrize("spec,version", ANY)
def test_cr_line_ends_stay_cr_and_round_trip(release, synthetic, spec, version):
    patch = synthetic.patch(spec)
    text = real_text(release, version, spec).replace("\n", "\r")
    patched = round_trip(patch, text)
    assert "\n" not in patched and newline_of(patched) == "\r"


@pytest.mark.parametrize("seed", range(12))
def test_any_mix_of_line_ends_round_trips_or_is_refused(release, synthetic, seed):
    """Each line ends with LF, CRLF or CR at random: the edit either takes its fix out
    again byte for byte, or refuses before returning anything."""
    spec = SPECS[seed % len(SPECS)]
    version = pre_fix_releases(spec)[seed % len(pre_fix_releases(spec))]
    patch = synthetic.patch(spec)
    target = patch.targets[0]
    rng = random.Random(seed)
    text = "".join(line.rstrip("\n") + rng.choice(["\n", "\r\n", "\r"])
                   for line in split_lines(real_text(release, version, spec)))
    try:
        patched = patch_text(patch, target, text)
    except EditError as exc:
        assert "byte for byte" in str(exc)
        return
    assert classify(patch, target, patched).kind == PATCHED
    assert unpatch_text(patch, target, patched) == text


def marker_line(patch, template: str, note: str = "") -> str:
    return template.format(id=patch.id) + note


@pytest.mark.parametrize("where", ["before the target", "at the end of the class",
                                   "at the top of the module"])
@pytest.mark.parametrize("template,note", [(BEGIN, ""), (BEGIN, " (a fork's copy)"), (END, "")],
                         ids=["begin marker", "begin marker with a note", "end marker"])
def test_a_line_equal_to_our_marker_is_refused(release, synthetic, where, template, note):
    spec, version = SHAPES, RELEASES[-1]
    patch = synthetic.patch(spec)
    target = patch.targets[0]
    text = real_text(release, version, spec)
    lines = split_lines(text)
    node = forks.method(text, spec.name, spec.class_name)
    cls = forks.find_class(forks.ast.parse(text), spec.class_name)
    at = {"before the target": node.lineno - 1, "at the end of the class": cls.end_lineno,
          "at the top of the module": 0}[where]
    indent = "" if at == 0 else "    "
    lines[at:at] = [f"{indent}{marker_line(patch, template, note)}\n"]
    text = "".join(lines)
    assert classify(patch, target, text).kind == PRE_FIX  # a comment changes no code
    with pytest.raises(EditError, match="already holds a line equal to our marker"):
        patch_text(patch, target, text)


@pytest.mark.parametrize("spec,version", CASES)
def test_a_text_the_fix_could_not_be_taken_out_of_is_refused(release, synthetic, spec, version):
    """A fork's comment that names the renamed original before its ``def``: taking the fix
    out would rename the comment back, not the function; refused before anything is
    written."""
    patch = synthetic.patch(spec)
    target = patch.targets[0]
    text = real_text(release, version, spec)
    lines = split_lines(text)
    at = forks.method(text, spec.name, spec.class_name).lineno - 1
    indent = "    " if spec.class_name else ""
    lines[at:at] = [f"{indent}# was: def {spec.original}, see upstream\n"]
    text = "".join(lines)
    assert classify(patch, target, text).kind == PRE_FIX
    with pytest.raises(EditError, match="would not give its original text back byte for byte"):
        patch_text(patch, target, text)
