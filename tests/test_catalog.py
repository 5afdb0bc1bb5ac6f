"""The catalogue loads, is checked on load, and matches the real releases.

At run time one bad entry costs only its own patch: the tests copy the synthetic
catalogue (tests/synthetic.py) into a temporary folder, add (or break) one entry, and point
the package at that folder in a fresh interpreter (tests/scenarios/broken_catalogue.py).
"""

import json
import re
import shutil

import pytest

from tests.catalogues import write_patch
from tests.helpers import SCENARIOS, run_python
from tests.synthetic import FIXED, LAST, METHOD, SPECS
from vllm_patches.core.catalog import (
    CatalogError,
    catalog_dir,
    get_patch,
    load_catalog,
    load_catalog_report,
    load_patch,
)
from vllm_patches.core.releases import release_tree
from vllm_patches.core.sourcefile import read_source
from vllm_patches.core.state import FIXED as FIXED_SHAPE
from vllm_patches.core.state import NO_MODULE, PRE_FIX, classify


def test_the_catalogue_is_every_patch_folder_sorted_by_id():
    folders = sorted(d.name for d in catalog_dir().iterdir() if (d / "patch.toml").is_file())
    assert [p.id for p in load_catalog()] == folders and folders


def test_unknown_id_names_the_known_ones():
    known = ", ".join(p.id for p in load_catalog())
    with pytest.raises(CatalogError, match=f"known ids: {re.escape(known)}"):
        get_patch("nope")


@pytest.mark.parametrize("patch", load_catalog(), ids=lambda p: p.id)
def test_each_patch_reads_each_seen_release_as_the_shape_recorded_for_it(patch):
    """Each release a ``seen`` table records holds the pre-fix code, or upstream's fix."""
    wrong = []
    for target in patch.targets:
        by_release = {}
        for wrap in target.wraps:
            for fp, versions in wrap.seen.items():
                for version in versions:
                    fixed = fp in wrap.fixed_upstream
                    by_release[version] = by_release.get(version, False) or fixed
        for version, fixed in by_release.items():
            text = read_source(release_tree(version) / target.relpath).text
            kind = classify(patch, target, text).kind
            if kind != (FIXED_SHAPE if fixed else PRE_FIX):
                wrong.append((target.scope, version, str(kind)))
    assert wrong == []


def test_a_release_without_the_target_module_is_no_module(synthetic):
    patch = synthetic.patch(METHOD)
    assert classify(patch, patch.targets[0], None).kind == NO_MODULE


@pytest.fixture
def catalogue_copy(tmp_path, synthetic):
    """A copy of a synthetic patch's folder: the one fixed upstream, which has every field."""
    dest = tmp_path / FIXED.id
    shutil.copytree(synthetic.root / FIXED.id, dest)
    return dest


@pytest.mark.parametrize(
    "old, new, field",
    [
        (r'^affected = "[^"]*"', 'affected = "between 0.17 and 0.27"', "affected"),
        (r'^applied-upstream = "[^"]*"', 'applied-upstream = "soon"', "applied-upstream"),
        (r'^id = "[^"]*"', 'id = "other"', "id"),
        (r'^title = ', 'titel = ', "title"),
        (r'^pre-fix = \[("[0-9a-f]+")\]', r'pre-fix = \1', "targets[0].wraps[0].pre-fix"),
        (r'^module = "vllm\.', 'module = "elsewhere.', "targets[0].module"),
    ],
)
def test_a_bad_field_is_named_with_its_file(catalogue_copy, old, new, field):
    toml = catalogue_copy / "patch.toml"
    text = toml.read_text()
    assert re.search(old, text, re.M)
    toml.write_text(re.sub(old, new, text, count=1, flags=re.M))
    with pytest.raises(CatalogError) as info:
        load_patch(catalogue_copy)
    assert str(toml) in str(info.value)
    assert f"'{field}'" in str(info.value)


def test_invalid_toml_is_reported_with_its_file(catalogue_copy):
    (catalogue_copy / "patch.toml").write_text("id = [unclosed\n")
    with pytest.raises(CatalogError, match="is not valid TOML"):
        load_patch(catalogue_copy)


def test_a_fix_lacking_a_target_method_is_refused(catalogue_copy):
    fix = catalogue_copy / "fix.py"
    fix.write_text(fix.read_text().replace(f"def {FIXED.name}(", f"def {FIXED.name}_gone("))
    with pytest.raises(CatalogError, match=f"lacks {FIXED.name}"):
        load_patch(catalogue_copy)


# The optional upstream-commit field (used by backport --strategy cherry-pick).
def _patch_folder(catalogue_copy, extra_line: str):
    toml = catalogue_copy / "patch.toml"
    text = toml.read_text()
    head, sep, tail = text.partition("\n[[targets]]")
    toml.write_text(head + "\n" + extra_line + sep + tail)
    return catalogue_copy


def test_upstream_commit_is_optional(catalogue_copy):
    assert load_patch(catalogue_copy).upstream_commit is None


def test_upstream_commit_is_read_and_lowered(catalogue_copy):
    folder = _patch_folder(catalogue_copy, 'upstream-commit = "ABCDEF1234567"')
    assert load_patch(folder).upstream_commit == "abcdef1234567"


@pytest.mark.parametrize("bad", ["abc12", "not-a-sha", "a" * 41])
def test_upstream_commit_must_be_7_to_40_hex_digits(catalogue_copy, bad):
    folder = _patch_folder(catalogue_copy, f'upstream-commit = "{bad}"')
    with pytest.raises(CatalogError, match="upstream-commit"):
        load_patch(folder)


# One bad entry costs only its own patch -------------------------------------------
RUN_ON = LAST  # the release the run-time tests import
BROKEN = "broken-entry"
SHARER = "synthetic-method-sharer"  # shares METHOD's fix.py (fix-from), for older releases


def nested_toml() -> bytes:
    return ("deep = " + "[" * 50_000 + "]" * 50_000 + "\n").encode()


def break_toml(text: bytes) -> bytes:
    return text.replace(b"id = ", b"id = [unclosed ", 1)


def outside_fix(folder) -> None:
    """``fix`` names a file outside the catalogue, which a planted entry could read."""
    (folder.parent.parent / "outside.py").write_bytes((folder / "fix.py").read_bytes())
    toml = folder / "patch.toml"
    toml.write_text(toml.read_text().replace('fix = "fix.py"', 'fix = "../../outside.py"'))


# Each: the file it breaks, and how; (file, None, edit) edits the folder itself.
BREAKAGES = {
    "patch.toml not UTF-8": ("patch.toml", lambda b: b"# \xff\xfe a comment\n" + b),
    "patch.toml not TOML": ("patch.toml", break_toml),
    "patch.toml nested too deep": ("patch.toml", lambda b: nested_toml() + b),
    "a bad field": ("patch.toml", lambda b: re.sub(rb'affected = "[^"]*"', b'affected = "soon"',
                                                   b, count=1)),
    "fix.py not UTF-8": ("fix.py", lambda b: b"# caf\xe9\n" + b),
    "fix.py with a NUL byte": ("fix.py", lambda b: b + b"\0"),
    "fix.py not Python": ("fix.py", lambda b: b + b"\ndef (:\n"),
    "fix.py a folder": ("fix.py", None),
    "fix outside the catalogue": ("patch.toml", outside_fix),
}


def broken_catalogue(root, synthetic, breakage: str, *, folder_name: str = BROKEN):
    """A copy of the synthetic catalogue under ``root``, with SHARER, plus (or with) one broken
    entry; the folder and the file that is broken."""
    dest = root / "patches"
    shutil.copytree(synthetic.root, dest)
    write_patch(dest, SHARER, name=METHOD.name, fix="", pre_fix=["0123456789abcdef"],
                affected="<0.17.0", fix_from=METHOD.id, module=METHOD.module,
                class_name=METHOD.class_name, adds=METHOD.adds)
    folder = dest / folder_name
    if folder_name == BROKEN:
        shutil.copytree(dest / METHOD.id, folder)
        toml = folder / "patch.toml"
        toml.write_text(toml.read_text().replace(f'id = "{METHOD.id}"', f'id = "{BROKEN}"'))
    name, edit = BREAKAGES[breakage]
    path = folder / name
    if edit is None:
        path.unlink()
        path.mkdir()
    elif edit is outside_fix:
        edit(folder)
    else:
        path.write_bytes(edit(path.read_bytes()))
    return dest, path


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_bad_entry_is_one_problem_naming_its_file_and_the_rest_loads(tmp_path, synthetic,
                                                                      breakage):
    root, bad_file = broken_catalogue(tmp_path, synthetic, breakage)
    patches, problems = load_catalog_report(root)
    assert [p.id for p in patches] == sorted([s.id for s in SPECS] + [SHARER])  # every good one
    (problem,) = problems
    assert problem.id == BROKEN and str(bad_file) in problem.message
    assert problem.message.count("\n") == 0 and problem.message.endswith(".")


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_strict_loading_still_refuses_a_bad_entry_in_one_sentence(tmp_path, synthetic, breakage):
    root, bad_file = broken_catalogue(tmp_path, synthetic, breakage)
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    assert str(bad_file) in str(info.value) and "\n" not in str(info.value)


def test_load_catalog_stays_cached():
    assert load_catalog() is load_catalog()
    assert load_catalog_report() is load_catalog_report()
    assert load_catalog_report()[0] == load_catalog() and load_catalog_report()[1] == ()


def test_a_shared_fix_that_breaks_costs_each_patch_that_uses_it(tmp_path, synthetic):
    root, bad_file = broken_catalogue(tmp_path, synthetic, "fix.py not UTF-8",
                                      folder_name=METHOD.id)
    patches, problems = load_catalog_report(root)
    assert {METHOD.id, SHARER}.isdisjoint(p.id for p in patches)  # the others still load
    assert sorted(p.id for p in problems) == sorted([METHOD.id, SHARER])
    assert all(str(bad_file) in p.message for p in problems)


# At run time, in a real vLLM process (tests/scenarios/broken_catalogue.py) -------------
# Loading is tested above for every breakage; at run time, the two that once escaped as a
# UnicodeDecodeError (each run imports vLLM: about 10 s).
RUN_TIME = ["patch.toml not UTF-8", "fix.py not UTF-8"]


def broken_run(tmp_path, synthetic, release, breakage, mode, *paths, folder_name=BROKEN,
               **env):
    root, bad_file = broken_catalogue(tmp_path, synthetic, breakage, folder_name=folder_name)
    proc = run_python([str(SCENARIOS / "broken_catalogue.py"), str(root), mode],
                      *paths, release(RUN_ON), **env)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr, bad_file


def warnings_naming(stderr: str, path) -> list[str]:
    return [line for line in stderr.splitlines() if str(path) in line]


def two(outcomes: dict) -> dict:
    """The outcomes of METHOD and of the patch that upstream fixed (skipped) on RUN_ON; the
    other patches apply or not on their own."""
    return {k: v for k, v in outcomes.items() if k in (METHOD.id, FIXED.id)}


@pytest.mark.parametrize("breakage", RUN_TIME)
def test_apply_runs_the_good_patches_and_warns_once_about_the_bad_entry(
        tmp_path, synthetic, release, breakage):
    result, stderr, bad_file = broken_run(tmp_path, synthetic, release, breakage, "apply")
    assert result["error"] is None
    assert two(result["outcomes"]) == {METHOD.id: "applied", FIXED.id: "skipped"}
    assert result["patched"] == [METHOD.id]
    (warning,) = warnings_naming(stderr, bad_file)  # apply() ran twice: one warning
    assert BROKEN in warning and "Traceback" not in stderr


def test_apply_with_ids_skips_only_the_bad_entry_and_the_unknown_id_it_names(tmp_path, synthetic,
                                                                            release):
    result, stderr, bad_file = broken_run(tmp_path, synthetic, release, "fix.py not UTF-8",
                                          "apply-ids")
    assert result["error"] is None
    assert result["outcomes"] == {METHOD.id: "applied"}
    assert len(warnings_naming(stderr, bad_file)) == 1
    (unknown,) = [line for line in stderr.splitlines() if "Unknown patch id" in line]
    assert "'no-such'" in unknown


def test_apply_never_raises_when_the_bad_entry_is_a_real_patch(tmp_path, synthetic, release):
    result, stderr, bad_file = broken_run(tmp_path, synthetic, release, "fix.py not UTF-8",
                                          "apply", folder_name=METHOD.id)
    assert (result["error"], result["outcomes"].get(METHOD.id), result["patched"]) == \
        (None, None, [])
    assert len(warnings_naming(stderr, bad_file)) == 2  # both patches use that fix.py


@pytest.mark.parametrize("breakage", RUN_TIME)
def test_strict_apply_raises_the_catalogue_error(tmp_path, synthetic, release, breakage):
    result, _, bad_file = broken_run(tmp_path, synthetic, release, breakage, "apply",
                                     VLLM_PATCHES_STRICT="1")
    assert result["error"].startswith("CatalogError") and str(bad_file) in result["error"]
    assert result["patched"] == []


@pytest.mark.parametrize("breakage", ["patch.toml not UTF-8", "fix.py not UTF-8"])
def test_the_plugin_applies_the_good_patches_despite_a_bad_entry(
        tmp_path, synthetic, release, plugin_site, breakage):
    result, stderr, bad_file = broken_run(tmp_path, synthetic, release, breakage, "plugin",
                                          plugin_site, VLLM_PATCHES=f"{METHOD.id},{BROKEN}")
    assert result["error"] is None and result["patched"] == [METHOD.id]
    (warning,) = warnings_naming(stderr, bad_file)
    assert warning.startswith("WARNING") and BROKEN in warning
    assert "no-such" not in stderr and "unknown" not in stderr.lower()


def test_the_cli_refuses_a_bad_entry_in_one_sentence(tmp_path, synthetic, release):
    root, bad_file = broken_catalogue(tmp_path, synthetic, "fix.py not UTF-8")
    proc = run_python([str(SCENARIOS / "broken_catalogue.py"), str(root), "cli", "status"],
                      release(RUN_ON), check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("vllm-patches: ") and proc.stderr.count("\n") == 1
    assert str(bad_file) in proc.stderr
