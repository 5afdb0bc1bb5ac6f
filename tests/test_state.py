"""The state of each patch for the real releases, forks and patched trees.

The built-in catalogue: every patch on every release its seen tables record. The rules:
on the synthetic catalogue (tests/synthetic.py), on two releases.
"""

import shutil

import pytest
from packaging.version import Version

from tests import forks
from tests.synthetic import FIXED, FIRST, LAST, METHOD, RELEASES, SHAPES, SPECS, write_one
from vllm_patches.core.catalog import load_catalog
from vllm_patches.core.detect import find_vllm
from vllm_patches.core.releases import release_tree
from vllm_patches.core.state import patch_status
from vllm_patches.source.edit import patch_text


def expected_state(patch, version: str) -> str:
    """What the catalogue's metadata says a release is: inside the affected range the
    pre-fix code is there; at or past the upstream fix the fix is; else it is not affected.
    The fingerprints must agree with it on every real release."""
    v = Version(version)
    if patch.affects(v):
        return "applicable"
    if patch.fixed_in(v):
        return "fixed-upstream"
    return "not-applicable"


def seen_releases(patch) -> list[str]:
    return sorted({v for t in patch.targets for w in t.wraps for vs in w.seen.values()
                   for v in vs}, key=Version)


@pytest.mark.parametrize("patch", load_catalog(), ids=lambda p: p.id)
def test_each_release_gets_the_state_its_metadata_implies(patch):
    wrong = {v: str(patch_status(patch, find_vllm(release_tree(v))).state)
             for v in seen_releases(patch)}
    wrong = {v: state for v, state in wrong.items() if state != expected_state(patch, v)}
    assert wrong == {}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@pytest.mark.parametrize("version", RELEASES)
def test_each_synthetic_patch_gets_the_state_its_metadata_implies(release, synthetic, spec,
                                                                  version):
    patch = synthetic.patch(spec)
    assert patch_status(patch, find_vllm(release(version))).state == expected_state(patch,
                                                                                    version)


def test_no_vllm_means_nothing_applies(synthetic):
    patches = [*load_catalog(), *(synthetic.patch(s) for s in SPECS)]
    assert {str(patch_status(p, None).state) for p in patches} == {"not-applicable"}


@pytest.mark.parametrize("version", RELEASES)
def test_fork_dev_version_with_pre_fix_code_is_applicable(release, synthetic, version):
    install = find_vllm(release(version), version=f"{version}.post1.dev12+gabc123")
    assert patch_status(synthetic.patch(METHOD), install).state == "applicable"


def test_fork_labelled_past_the_range_but_with_old_code_is_still_applicable(release, synthetic):
    install = find_vllm(release(FIRST), version="0.30.0+acme.1")
    status = patch_status(synthetic.patch(FIXED), install)
    assert status.state == "applicable"
    assert "outside" in status.reason


@pytest.mark.parametrize("spec", [METHOD, SHAPES], ids=lambda s: s.id)
@pytest.mark.parametrize("version", RELEASES)
def test_fork_that_edited_the_target_is_target_modified(tree_copy, synthetic, spec, version):
    path = tree_copy(version) / spec.relpath
    path.write_text(forks.edit_line(path.read_text(), spec.name, spec.class_name))
    tree = path.parents[spec.relpath.count("/")]
    status = patch_status(synthetic.patch(spec), find_vllm(tree))
    assert status.state == "target-modified"
    assert f"{spec.class_name}.{spec.name}" in status.reason


@pytest.mark.parametrize("version", RELEASES)
def test_source_patched_tree_reads_as_applied(tree_copy, synthetic, version):
    tree = tree_copy(version)
    patch = synthetic.patch(METHOD)
    path = tree / METHOD.relpath
    path.write_text(patch_text(patch, patch.targets[0], path.read_text()))
    status = patch_status(patch, find_vllm(tree))
    assert (status.state, status.mode) == ("applied", "source")


def test_runtime_applied_in_this_process_reads_as_applied(release, synthetic):
    status = patch_status(synthetic.patch(METHOD), find_vllm(release(LAST)),
                          runtime_applied=True)
    assert (status.state, status.mode) == ("applied", "runtime")


def test_without_a_version_another_releases_code_is_not_applicable_not_modified(
        tree_copy, tmp_path, monkeypatch):
    """A patch for the newest shape of a function, on a tree of an older release whose shape
    the catalogue also knows (from another patch): that release's code, not a fork's."""
    root = tmp_path / "catalogue"
    write_one(root, SHAPES, RELEASES)
    late = write_one(root, SHAPES, (LAST,), patch_id="synthetic-late", affected=f">={LAST}")
    monkeypatch.setenv("VLLM_PATCHES_CATALOG", str(root))
    tree = tree_copy(FIRST)
    for info in tree.glob("vllm-*.dist-info"):
        shutil.rmtree(info)
    (tree / "vllm" / "_version.py").unlink()  # a checkout without setuptools-scm's file
    install = find_vllm(tree)
    assert install.version is None
    patches = {p.id: p for p in load_catalog(root)}
    status = patch_status(patches[late.name], install)
    assert status.state == "not-applicable"
    assert "code of a vLLM release this patch is not for" in status.reason
    assert patch_status(patches[SHAPES.id], install).state == "applicable"
