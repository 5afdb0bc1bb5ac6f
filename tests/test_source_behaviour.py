"""Each fix with a CPU check, in source mode, on every release of the check matrix it
affects (``tests/matrix.py``): ``vllm-patches apply`` writes the release's fixes into a copy
of its files; every check, run over that tree with nothing patching at run time, shows no
bug; ``vllm-patches revert`` gives back the release's bytes, byte for byte (the files on
which a control shows each bug: ``test_verify_checks``'s, or ``catalog check``'s on the
first and last affected release, for every shape). One apply, one check process and one
revert per release."""

from __future__ import annotations

import shutil

import pytest

from tests.engine import link_tree
from tests.helpers import run_cli, run_python
from tests.matrix import cases, matrix
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import check_file
from vllm_patches.verify.jobs import json_line

MATRIX = matrix()


def snapshot(tree):
    return {p.relative_to(tree): p.read_bytes() for p in (tree / "vllm").rglob("*.py")}


def checks_over(tree, ids) -> dict[str, dict]:
    """The control arm of each patch's check over ``tree``, in one process: vLLM's files as
    they are, nothing patched at run time."""
    argv = ["-m", "vllm_patches.verify.check_arm", "control"]
    for patch in load_catalog():
        if patch.id in ids:
            argv += [patch.id, str(check_file(patch))]
    proc = run_python(argv, tree, VLLM_PATCHES="none", timeout=900, preload=True)
    lines = [json_line(line) for line in proc.stdout.splitlines()]
    return {line["patch"]: line for line in lines if line and "patch" in line}


@pytest.fixture(scope="module")
def in_source(release, tmp_path_factory):
    """``in_source(version)`` -> what apply, the checks and revert did to a copy of it."""
    runs = {}

    def get(version: str) -> dict:
        if version not in runs:
            tree = tmp_path_factory.mktemp(f"src-{version}") / "tree"
            # Hard links (only vllm-patches writes here, always a new file in its place),
            # with the release's byte-code: a file apply rewrites is newer than its .pyc.
            link_tree(release(version), tree,
                      ignore=shutil.ignore_patterns(".complete", ".compiled-*"))
            ids = MATRIX[version]
            before = snapshot(tree)
            applied = run_cli("apply", *ids, "--target", str(tree))
            changed = snapshot(tree) != before
            release_kept = snapshot(release(version)) == before  # with the fixes in the copy
            lines = checks_over(tree, ids) if applied.returncode == 0 else {}
            reverted = run_cli("revert", *ids, "--target", str(tree))
            runs[version] = {"applied": applied, "changed": changed, "lines": lines,
                             "reverted": reverted, "identical": snapshot(tree) == before,
                             "release_kept": release_kept}
        return runs[version]

    return get


@pytest.mark.parametrize("version", list(MATRIX))
def test_apply_writes_the_fixes_and_revert_gives_back_every_byte(in_source, version):
    run = in_source(version)
    assert run["applied"].returncode == 0, run["applied"].stdout + run["applied"].stderr
    assert run["changed"]
    assert run["reverted"].returncode == 0, run["reverted"].stdout + run["reverted"].stderr
    assert run["identical"]  # byte for byte
    assert run["release_kept"]  # the cached release the copy links to was never written


@pytest.mark.parametrize("patch_id, version", cases())
def test_the_fix_written_into_the_files_holds_with_nothing_patched_at_run_time(
        in_source, patch_id, version):
    line = in_source(version)["lines"].get(patch_id)
    assert line is not None and "error" not in line, line
    assert line["bug"] is False, line["detail"]
