"""The patch format (docs/patch-format.md): one validator of patch.toml, with a draft mode.

The catalogue (``load_patch``, complete) and ``catalog fingerprint`` (``read_draft``, a
draft) read patch.toml through the same validator, so a bad field is refused in the
same sentence by both. A draft may lack what is written later (pre-fix, affected, the
prose, fix.py); a complete patch may not. Every patch says why it exists, how it fixes
the bug and when to drop it; ``catalog check`` fails on one still a TODO. The patches
here are synthetic, over vLLM's small pure functions; the built-in catalogue is checked
by parametrising over it.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.catalogues import write_patch
from tests.helpers import run_cli
from vllm_patches.authoring.check import Mark, Step, check
from vllm_patches.authoring.fingerprint import read_draft
from vllm_patches.core.catalog import (PROSE, CatalogError, Stage, load_catalog, load_patch,
                                       read_patch)

FIX = '''"""Test fix: vLLM's round_up, another way."""


def round_up(x: int, y: int) -> int:
    return -(-x // y) * y
'''
PRE_FIX = "0000000000000000"


def patch(root, patch_id="up", **kwargs):
    return write_patch(root, patch_id, name="round_up", fix=FIX,
                       pre_fix=kwargs.pop("pre_fix", [PRE_FIX]), **kwargs)


def edit(folder, old: str, new: str) -> None:
    toml = folder / "patch.toml"
    text = toml.read_text()
    assert old in text, f"the test's patch.toml has no {old!r}"
    toml.write_text(text.replace(old, new, 1))


# (what is replaced, by what, a word the sentence must hold)
PLANTED = {
    "applied-upstream not a version": (
        'last-update = ', 'applied-upstream = "soon"\nlast-update = ',
        "'applied-upstream' is not a PEP 440 version"),
    "a module outside vllm": ('module = "vllm.utils.math_utils"', 'module = "os.path"',
                              "'targets[0].module' must name a module of the vllm package"),
    "a wrap that is no name": ('name = "round_up"', 'name = "round up"',
                               "is not a Python name"),
    "an unknown kind": ('kind = "function"', 'kind = "generator"', "'targets[0].wraps[0].kind'"),
    "a seen release not a version": (
        "fixed-upstream = []", f'fixed-upstream = []\n\n[targets.wraps.seen]\n{PRE_FIX} = ["x"]',
        "not a PEP 440 version"),
    "why not a string": ('why = "A bug the test plants."', "why = 3", "'why' must be"),
    "description beside why": ('why = ', 'description = "old"\nwhy = ',
                               "'description' is the old spelling of why"),
    "excludes itself": ('fix = "fix.py"', 'fix = "fix.py"\nexcludes = ["up"]',
                        "must not list the patch itself"),
    "the id not the folder's": ('id = "up"', 'id = "down"', "must equal the folder name"),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_a_bad_field_is_refused_in_the_same_sentence_by_the_catalogue_and_by_fingerprint(
        tmp_path, case):
    old, new, words = PLANTED[case]
    folder = patch(tmp_path)
    edit(folder, old, new)
    with pytest.raises(CatalogError) as complete:
        load_patch(folder)
    with pytest.raises(CatalogError) as draft:
        read_draft(folder)
    assert str(complete.value) == str(draft.value)
    assert words in str(complete.value) and str(folder / "patch.toml") in str(complete.value)


def test_catalog_fingerprint_says_the_bad_field_in_one_sentence_and_writes_nothing(tmp_path):
    folder = patch(tmp_path)
    edit(folder, 'module = "vllm.utils.math_utils"', 'module = "os.path"')
    before = (folder / "patch.toml").read_bytes()
    proc = run_cli("catalog", "fingerprint", "up", "--catalog", str(tmp_path),
                   "--releases", "0.26.0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    with pytest.raises(CatalogError) as loaded:
        load_patch(folder)
    assert proc.stderr.strip() == f"vllm-patches: {loaded.value}"
    assert (folder / "patch.toml").read_bytes() == before


def a_draft(root):
    """A patch as it is being written: no fingerprint, no range, no prose, no fix.py."""
    folder = patch(root, pre_fix=[], affected="TODO: run catalog fingerprint")
    for key in PROSE:
        edit(folder, f"{key} = ", f"# {key} = ")
    (folder / "fix.py").unlink()
    return folder


def test_a_draft_may_lack_what_is_written_later(tmp_path):
    draft = read_patch(a_draft(tmp_path), Stage.DRAFT)
    assert draft.affected is None and draft.targets[0].wraps[0].pre_fix == frozenset()
    assert draft.unfinished() == list(PROSE)


@pytest.mark.parametrize("key", ["why", "how", "drop-when"])
def test_a_complete_patch_needs_each_prose_field(tmp_path, key):
    folder = patch(tmp_path)
    edit(folder, f"{key} = ", f"# {key} = ")
    with pytest.raises(CatalogError, match=f"field '{key}' is required \\({PROSE[key]}"):
        load_patch(folder)
    assert read_patch(folder, Stage.DRAFT).prose(key) is None


@pytest.mark.parametrize("fill, words", [
    ("pre-fix", "'targets[0].wraps[0].pre-fix' is still empty"),
    ("affected", "'affected' is still a TODO"),
    ("fix.py", "names no file"),
])
def test_what_a_draft_may_lack_a_complete_patch_may_not(tmp_path, fill, words):
    folder = a_draft(tmp_path)
    for key in PROSE:
        edit(folder, f"# {key} = ", f"{key} = ")
    if fill != "pre-fix":
        edit(folder, "pre-fix = []", f'pre-fix = ["{PRE_FIX}"]')
    if fill != "affected":
        edit(folder, 'affected = "TODO: run catalog fingerprint"', 'affected = ">=0.26.0"')
    if fill != "fix.py":
        (folder / "fix.py").write_text(FIX)
    with pytest.raises(CatalogError, match=re.escape(words)):
        load_patch(folder)


def metadata(root, patch_id: str) -> list[tuple[Mark, str]]:
    report = check([root], releases_from_seen=True)
    return [(r.result, r.why) for r in report.rows
            if r.patch == patch_id and r.step == Step.METADATA]


def test_catalog_check_fails_on_a_prose_field_still_a_todo_naming_patch_and_field(tmp_path):
    folder = patch(tmp_path)
    edit(folder, 'drop-when = "When the test is over."', 'drop-when = "TODO: when to drop"')
    assert load_patch(folder).unfinished() == ["drop-when"]  # it loads: it is a TODO
    rows = metadata(tmp_path, "up")
    assert (Mark.FAIL, f"patch up: field 'drop-when' of its patch.toml is still a TODO: "
                         f"write {PROSE['drop-when']}") in rows
    assert [result for result, _ in rows].count(Mark.FAIL) == 1


def test_a_description_alone_still_loads_as_why_and_catalog_check_warns(tmp_path):
    """The old spelling, for one release: a user's catalogue keeps working."""
    folder = patch(tmp_path)
    for key in ("how", "drop-when"):
        edit(folder, f"{key} = ", f"# {key} = ")
    edit(folder, "why = ", "description = ")
    loaded = load_patch(folder)
    assert (loaded.why, loaded.how, loaded.old_description) == (
        "A bug the test plants.", None, True)
    [(result, why)] = [row for row in metadata(tmp_path, "up") if row[0] != Mark.OK]
    assert result == Mark.WARNING
    assert "patch up" in why and "'description' (the old spelling of 'why'" in why


def test_prose_keeps_its_paragraphs_and_folds_its_lines(tmp_path):
    folder = patch(tmp_path)
    edit(folder, 'how = "A fix the test writes."',
         'how = """\nThe fix\nwrites   this.\n\nEdge: and\nthis."""')
    assert load_patch(folder).how == "The fix writes this.\n\nEdge: and this."


@pytest.mark.parametrize("builtin", load_catalog(), ids=lambda p: p.id)
def test_every_builtin_patch_says_why_how_and_when_to_drop_it(builtin):
    assert not builtin.old_description and builtin.unfinished() == []
    if builtin.applied_upstream is not None:  # the release it names is the recorded one
        assert str(builtin.applied_upstream) in builtin.drop_when


def test_catalog_new_writes_the_prose_as_todo_placeholders(tmp_path):
    proc = run_cli("catalog", "new", "mine", "--into", str(tmp_path),
                   "--function", "vllm.utils.math_utils:round_up")
    assert proc.returncode == 0, proc.stderr
    draft = read_patch(tmp_path / "mine", Stage.DRAFT)
    assert draft.unfinished() == list(PROSE)
    assert all(draft.prose(key) == f"TODO: {meaning}" for key, meaning in PROSE.items())


# catalog list ------------------------------------------------------------------------------
def test_catalog_list_prints_every_patch_of_a_catalogue(tmp_path):
    patch(tmp_path, "up")
    patch(tmp_path, "up-too")
    proc = run_cli("catalog", "list", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)["patches"]
    assert [(p["id"], p["drop_when"]) for p in listed] == [
        ("up", "When the test is over."), ("up-too", "When the test is over.")]
    table = run_cli("catalog", "list", str(tmp_path), "--markdown").stdout.splitlines()
    assert table[0] == "| id | vLLM | what it does | upstream |" and len(table) == 4
    assert table[2].startswith("| `up` | `>=0.26.0,<0.27.0` | Test patch up | [example/vllm#1]")


def test_catalog_list_names_an_entry_that_does_not_load_and_lists_the_rest(tmp_path):
    patch(tmp_path, "up")
    edit(patch(tmp_path, "broken"), 'module = "vllm.utils.math_utils"', 'module = "os"')
    proc = run_cli("catalog", "list", str(tmp_path))
    assert proc.returncode == 1
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["ID", "up"]
    (sentence,) = proc.stderr.strip().splitlines()
    assert sentence.startswith("vllm-patches: not listed: ") and "broken" in sentence


def test_catalog_list_takes_one_output_format(tmp_path):
    proc = run_cli("catalog", "list", "--json", "--markdown")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
