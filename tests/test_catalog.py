"""The catalogue loads, is checked on load, and matches the real releases."""

import shutil

import pytest

from tests.conftest import AFFECTED, BEFORE, FIXED, RECENT
from vllm_patches.catalog import CatalogError, catalog_dir, get_patch, load_catalog, load_patch
from vllm_patches.state import FIXED as FIXED_SHAPE
from vllm_patches.state import MISSING, PRE_FIX, classify


def test_catalogue_holds_both_gemma4_patches():
    ids = [p.id for p in load_catalog()]
    assert ids == ["gemma4-mtp-lm-head-reload", "gemma4-mtp-stable-lm-head"]
    stable = get_patch("gemma4-mtp-stable-lm-head")
    assert stable.upstream_pr == "vllm-project/vllm#43909"
    assert str(stable.applied_upstream) == "0.23.0"
    assert stable.affected_text == ">=0.21.0,<0.23.0"


def test_unknown_id_names_the_known_ones():
    with pytest.raises(CatalogError, match="known ids: gemma4-mtp-lm-head-reload"):
        get_patch("nope")


def shape_in(release, version, patch_id):
    patch = get_patch(patch_id)
    target = patch.targets[0]
    path = release(version) / target.relpath
    return classify(patch, target, path.read_text() if path.exists() else None).kind


@pytest.mark.parametrize("version", AFFECTED)
def test_stable_patch_recognises_every_affected_release(release, version):
    assert shape_in(release, version, "gemma4-mtp-stable-lm-head") == PRE_FIX


@pytest.mark.parametrize("version", [FIXED, RECENT])
def test_stable_patch_sees_the_upstream_fix(release, version):
    assert shape_in(release, version, "gemma4-mtp-stable-lm-head") == FIXED_SHAPE


@pytest.mark.parametrize("version", [FIXED, RECENT])
def test_reload_patch_recognises_releases_that_reset_the_cache(release, version):
    assert shape_in(release, version, "gemma4-mtp-lm-head-reload") == PRE_FIX


def test_release_without_gemma4_mtp_is_missing(release):
    assert shape_in(release, BEFORE, "gemma4-mtp-stable-lm-head") == MISSING


@pytest.fixture
def catalogue_copy(tmp_path):
    dest = tmp_path / "patches"
    shutil.copytree(catalog_dir(), dest)
    return dest / "gemma4-mtp-stable-lm-head"


@pytest.mark.parametrize(
    "old, new, field",
    [
        ('affected = ">=0.21.0,<0.23.0"', 'affected = "between 0.21 and 0.23"', "affected"),
        ('applied-upstream = "0.23.0"', 'applied-upstream = "soon"', "applied-upstream"),
        ('id = "gemma4-mtp-stable-lm-head"', 'id = "other"', "id"),
        ('title = ', 'titel = ', "title"),
        ('pre-fix = ["1f33d4da22290c70"]', 'pre-fix = "1f33d4da22290c70"', "targets[0].wraps[0].pre-fix"),
        ('module = "vllm.model_executor', 'module = "elsewhere.model_executor', "targets[0].module"),
    ],
)
def test_a_bad_field_is_named_with_its_file(catalogue_copy, old, new, field):
    toml = catalogue_copy / "patch.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
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
    fix.write_text(fix.read_text().replace("def load_weights", "def load_weight"))
    with pytest.raises(CatalogError, match="lacks load_weights"):
        load_patch(catalogue_copy)


# The optional upstream-commit field (used by backport --strategy cherry-pick).
UPSTREAM_PATCH = "gemma4-mtp-stable-lm-head"


def _patch_folder(tmp_path, extra_line: str):
    folder = tmp_path / UPSTREAM_PATCH
    shutil.copytree(catalog_dir() / UPSTREAM_PATCH, folder)
    toml = folder / "patch.toml"
    text = toml.read_text()
    head, sep, tail = text.partition("\n[[targets]]")
    toml.write_text(head + extra_line + "\n" + sep + tail)
    return folder


def test_upstream_commit_is_optional_and_absent_in_the_shipped_catalogue():
    assert load_patch(catalog_dir() / UPSTREAM_PATCH).upstream_commit is None


def test_upstream_commit_is_read_and_lowered(tmp_path):
    folder = _patch_folder(tmp_path, 'upstream-commit = "ABCDEF1234567"')
    assert load_patch(folder).upstream_commit == "abcdef1234567"


@pytest.mark.parametrize("bad", ["abc12", "not-a-sha", "a" * 41])
def test_upstream_commit_must_be_7_to_40_hex_digits(tmp_path, bad):
    folder = _patch_folder(tmp_path, f'upstream-commit = "{bad}"')
    with pytest.raises(CatalogError, match="upstream-commit"):
        load_patch(folder)
