"""Each fix with a check, in source mode: written into a copy of a real release's files by
``vllm-patches apply``, its check run over that tree with nothing patching at run time shows
no bug; after ``vllm-patches revert`` the files are the release's bytes again and the check
shows the bug again. Parametrised over the catalogue: the last release the tests know that
each patch affects."""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from tests.helpers import run_cli, run_python
from vllm_patches.core.catalog import load_catalog
from vllm_patches.verify.checks import check_file

KNOWN = ("0.17.0", "0.17.1", "0.20.2", "0.22.1", "0.23.0", "0.24.0", "0.26.0", "0.27.1",
         "0.28.0")
CASES = [(p.id, [v for v in KNOWN if p.affects(Version(v))][-1]) for p in load_catalog()
         if check_file(p) is not None and check_file(p).read_text().find('DEVICE = "cpu"') >= 0
         and any(p.affects(Version(v)) for v in KNOWN)]


def check_over(tree, patch_id) -> dict:
    """The control arm of the patch's check over ``tree``: vLLM's files as they are, nothing
    patched at run time."""
    patch = next(p for p in load_catalog() if p.id == patch_id)
    proc = run_python(["-m", "vllm_patches.verify.check_arm", patch_id, "control",
                       str(check_file(patch))], tree, VLLM_PATCHES="none")
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in line, line
    return line


def snapshot(tree):
    return {p: p.read_bytes() for p in (tree / "vllm").rglob("*.py")}


@pytest.mark.parametrize("patch_id, version", CASES)
def test_the_fix_written_into_the_files_holds_and_reverting_brings_the_bug_back(
        tree_copy, patch_id, version):
    tree = tree_copy(version)
    before = snapshot(tree)
    applied = run_cli("apply", patch_id, "--target", str(tree))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert snapshot(tree) != before
    fixed = check_over(tree, patch_id)
    assert fixed["bug"] is False, fixed["detail"]
    reverted = run_cli("revert", patch_id, "--target", str(tree))
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert snapshot(tree) == before  # byte for byte
    buggy = check_over(tree, patch_id)
    assert buggy["bug"] is True, buggy["detail"]
