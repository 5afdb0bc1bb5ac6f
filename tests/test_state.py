"""The state of each patch for the real releases, forks and patched trees."""

import pytest

from vllm_patches.core.catalog import get_patch, load_catalog
from vllm_patches.core.detect import find_vllm
from vllm_patches.source.edit import patch_text
from vllm_patches.core.state import patch_status

STABLE, RELOAD = "gemma4-mtp-stable-lm-head", "gemma4-mtp-lm-head-reload"
MTP = "vllm/model_executor/models/gemma4_mtp.py"

RELEASES = ("0.20.2", "0.21.0", "0.22.0", "0.22.1", "0.23.0", "0.33.0")


def expected_state(patch, version: str) -> str:
    """What the catalogue's metadata says a release is: inside the affected range the
    pre-fix code is there; at or past the upstream fix the fix is; else it is not affected.
    The fingerprints must agree with it on every real release."""
    from packaging.version import Version

    v = Version(version)
    if patch.affects(v):
        return "applicable"
    if patch.fixed_in(v):
        return "fixed-upstream"
    return "not-applicable"


def states(install):
    return {p.id: patch_status(p, install).state for p in load_catalog()}


@pytest.mark.parametrize("version", RELEASES)
@pytest.mark.parametrize("patch_id", [p.id for p in load_catalog()])
def test_each_release_gets_the_state_its_metadata_implies(release, version, patch_id):
    patch = get_patch(patch_id)
    assert patch_status(patch, find_vllm(release(version))).state == expected_state(patch, version)


def test_no_vllm_means_nothing_applies():
    assert set(states(None).values()) == {"not-applicable"}


def test_fork_dev_version_with_pre_fix_code_is_applicable(release):
    install = find_vllm(release("0.22.1"), version="0.22.2.dev12+gabc123")
    assert states(install)[STABLE] == "applicable"


def test_fork_labelled_past_the_range_but_with_old_code_is_still_applicable(release):
    status = patch_status(get_patch(STABLE), find_vllm(release("0.22.1"), version="0.24.0+acme.1"))
    assert status.state == "applicable"
    assert "outside" in status.reason


def test_fork_that_edited_the_target_is_target_modified(tree_copy):
    tree = tree_copy("0.22.1")
    path = tree / MTP
    text = path.read_text()
    path.write_text(text.replace("dim=0,\n            )\n        return lm_head_weight",
                                 "dim=-1,\n            )\n        return lm_head_weight", 1))
    assert path.read_text() != text
    status = patch_status(get_patch(STABLE), find_vllm(tree))
    assert status.state == "target-modified"
    assert "Gemma4MTP._get_full_lm_head_weight" in status.reason


def test_source_patched_tree_reads_as_applied(tree_copy):
    tree = tree_copy("0.22.1")
    patch = get_patch(STABLE)
    path = tree / MTP
    path.write_text(patch_text(patch, patch.targets[0], path.read_text()))
    status = patch_status(patch, find_vllm(tree))
    assert (status.state, status.mode) == ("applied", "source")


def test_runtime_applied_in_this_process_reads_as_applied(release):
    status = patch_status(get_patch(STABLE), find_vllm(release("0.22.1")), runtime_applied=True)
    assert (status.state, status.mode) == ("applied", "runtime")


def test_without_a_version_another_releases_code_is_not_applicable_not_modified(tree_copy):
    import shutil

    tree = tree_copy("0.22.1")
    for info in tree.glob("vllm-*.dist-info"):
        shutil.rmtree(info)
    (tree / "vllm" / "_version.py").unlink()  # a checkout without setuptools-scm's file
    install = find_vllm(tree)
    assert install.version is None
    reload_status = patch_status(get_patch(RELOAD), install)
    assert reload_status.state == "not-applicable"
    assert "code of a vLLM release this patch is not for" in reload_status.reason
    assert patch_status(get_patch(STABLE), install).state == "applicable"
