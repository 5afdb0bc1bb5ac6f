"""One cached tree per release, whatever way the release is written (``--release 0.22``)."""

from __future__ import annotations

import os

import pytest
from packaging.version import Version

from tests.helpers import run_cli
from vllm_patches.core.files import CACHE_ENV
from vllm_patches.core.releases import ReleaseError, canonical, is_cached, release_tree


@pytest.mark.parametrize("spec,name", [
    ("0.22.0", "0.22.0"), ("0.22", "0.22.0"), ("v0.22.0", "0.22.0"), ("0.22.0.0", "0.22.0"),
    (" 0.22.00 ", "0.22.0"), ("0.9", "0.9.0"),
    ("0.10.1.1", "0.10.1.1"), ("0.22.0rc1", "0.22.0rc1"), ("0.22.0-rc.1", "0.22.0rc1"),
    ("0.22.0.post1", "0.22.0.post1"), ("0.22-1", "0.22.0.post1"), ("0.22+cpu", "0.22.0+cpu"),
    ("1!0.22", "1!0.22.0"),
])
def test_every_spelling_of_a_release_has_one_name(spec, name):
    assert canonical(spec) == name and Version(name) == Version(spec)


@pytest.mark.parametrize("spec", ["latest", "0.22/../../etc", "", "0.22.x"])
def test_what_is_no_version_is_one_sentence(spec):
    with pytest.raises(ReleaseError, match="is not a vLLM release version"):
        canonical(spec)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A user cache that holds 0.22.0 (the real release's tree) and nothing else; pip
    cannot reach an index from here, so a download would fail at once."""
    real = release_tree("0.22.0", compiled=True)
    (tmp_path / "releases").mkdir()
    os.symlink(real, tmp_path / "releases" / "0.22.0")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return tmp_path


@pytest.mark.parametrize("spec", ["0.22", "v0.22.0", "0.22.0.0"])
def test_a_release_written_another_way_uses_the_tree_cached_already(cache, spec):
    assert is_cached(spec)
    assert release_tree(spec) == cache / "releases" / "0.22.0"
    assert sorted(os.listdir(cache / "releases")) == ["0.22.0"]


def test_diff_of_release_0_22_reads_the_0_22_0_tree(cache):
    proc = run_cli("diff", "--release", "0.22", **{CACHE_ENV: str(cache), "PIP_NO_INDEX": "1"})
    assert proc.returncode == 0, proc.stderr
    real = os.path.realpath(cache / "releases" / "0.22.0")  # the cached tree, through the link
    assert f"vLLM 0.22.0 at {real}\n" in proc.stderr
    assert sorted(os.listdir(cache / "releases")) == ["0.22.0"]
