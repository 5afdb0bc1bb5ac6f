"""The catalogue's optional ``upstream-commit`` field (used by ``backport --strategy cherry-pick``)."""

from __future__ import annotations

import shutil

import pytest

from vllm_patches.catalog import CatalogError, catalog_dir, load_patch

PATCH = "gemma4-mtp-stable-lm-head"


def _patch_folder(tmp_path, extra_line: str):
    folder = tmp_path / PATCH
    shutil.copytree(catalog_dir() / PATCH, folder)
    toml = folder / "patch.toml"
    text = toml.read_text()
    head, sep, tail = text.partition("\n[[targets]]")
    toml.write_text(head + extra_line + "\n" + sep + tail)
    return folder


def test_upstream_commit_is_optional_and_absent_in_the_shipped_catalogue():
    assert load_patch(catalog_dir() / PATCH).upstream_commit is None


def test_upstream_commit_is_read_and_lowered(tmp_path):
    folder = _patch_folder(tmp_path, 'upstream-commit = "ABCDEF1234567"')
    assert load_patch(folder).upstream_commit == "abcdef1234567"


@pytest.mark.parametrize("bad", ["abc12", "not-a-sha", "a" * 41])
def test_upstream_commit_must_be_7_to_40_hex_digits(tmp_path, bad):
    folder = _patch_folder(tmp_path, f'upstream-commit = "{bad}"')
    with pytest.raises(CatalogError, match="upstream-commit"):
        load_patch(folder)
