"""Several catalogued fixes in one vLLM file, on the real files of a release.

On 0.22.1 ``stop-token-ids-in-vocab``, ``structured-outputs-regex-nul`` and
``structured-outputs-reject-degenerate`` all change ``vllm/sampling_params.py`` (the last
two compose on one method). The record must name the file's final bytes for each of them
(``status`` right after ``apply`` reads no edit), and a revert of any, in the order the
record allows, must give the bytes back exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli
from vllm_patches.core.catalog import get_patch, load_catalog
from vllm_patches.core.releases import release_tree
from vllm_patches.core.words import Outcome
from vllm_patches.source import plan as source
from vllm_patches.source.record import RECORD_NAME, STATE_DIR, load, sha256_of

VERSION = "0.22.1"
SAMPLING = "vllm/sampling_params.py"
FIRST, LATER = "stop-token-ids-in-vocab", "structured-outputs-reject-degenerate"
SHARED = {SAMPLING: (FIRST, "structured-outputs-regex-nul", LATER)}


def targets_tree(top: Path, version: str = VERSION) -> Path:
    """A copy of the release's files that the catalogue reads, and its dist-info."""
    src = release_tree(version)
    dest = top / f"targets-{version}"
    rels = {"vllm/__init__.py"} | {t.relpath for p in load_catalog() for t in p.targets}
    for rel in sorted(rels):
        if (src / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dest / rel)
    for info in src.glob("vllm-*.dist-info"):
        shutil.copytree(info, dest / info.name)
    return dest


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def status(tree: Path) -> dict[str, dict]:
    proc = run_cli("status", "--target", str(tree), "--json")
    assert proc.returncode == 0, proc.stderr
    return {p["id"]: p for p in json.loads(proc.stdout)["patches"]}


@pytest.fixture
def tree(tmp_path):
    return targets_tree(tmp_path)


def test_the_release_has_its_fixes_in_each_shared_file(tree):
    applied = source.apply(tree)
    for rel, ids in SHARED.items():
        assert [r.id for r in applied.results if rel in r.files] == list(ids)


def test_status_right_after_applying_everything_reads_no_edit(tree):
    proc = run_cli("apply", "--target", str(tree))
    assert proc.returncode == 0, proc.stderr
    seen = status(tree)
    for patch_id in {i for ids in SHARED.values() for i in ids}:
        assert (seen[patch_id]["state"], seen[patch_id]["mode"]) == ("applied", "source")
        assert "changed since" not in seen[patch_id]["reason"], seen[patch_id]["reason"]
        assert "--force" not in seen[patch_id]["next"]
    for entry in load(tree).entries:  # each entry names the bytes the file holds now
        for rel, f in entry.files.items():
            assert f.after == sha256_of((tree / rel).read_bytes()), (entry.patch_id, rel)


def test_the_later_fix_reverts_alone_and_leaves_the_first_in_step(tree, tmp_path):
    original = files_of(tree)
    only_first = targets_tree(tmp_path / "first")  # every fix of the file but the later one
    assert source.apply(only_first, [get_patch(i) for i in SHARED[SAMPLING][:-1]]).ok
    assert source.apply(tree).ok

    reverted = source.revert(tree, [get_patch(LATER)])
    assert [r.outcome for r in reverted.results] == [Outcome.REVERTED]
    assert (tree / SAMPLING).read_bytes() == (only_first / SAMPLING).read_bytes()
    assert load(tree).get(FIRST).files[SAMPLING].after == sha256_of((tree / SAMPLING).read_bytes())
    seen = status(tree)
    assert seen[FIRST]["state"] == "applied" and "changed since" not in seen[FIRST]["reason"]
    assert seen[LATER]["state"] == "applicable"

    assert source.revert(tree).ok
    assert files_of(tree) == original  # every byte back, and no .vllm-patches/ left


def test_the_first_fix_is_reverted_only_after_the_later_one(tree):
    assert source.apply(tree).ok
    refused = source.revert(tree, [get_patch(FIRST)])
    assert [r.outcome for r in refused.results] == [Outcome.REFUSED]
    assert f"revert {LATER} first" in refused.results[0].message


def test_apply_of_the_later_fix_in_a_second_call_settles_the_first(tree):
    assert source.apply(tree, [get_patch(FIRST)]).ok
    assert source.apply(tree, [get_patch(LATER)]).ok
    assert "changed since" not in status(tree)[FIRST]["reason"]


def test_a_record_that_names_the_bytes_between_the_two_fixes_reads_as_final(tree):
    """What vllm-patches 0.1.0 wrote: the first entry's after is the second's before."""
    assert source.apply(tree).ok
    path = tree / STATE_DIR / RECORD_NAME
    data = json.loads(path.read_text())
    for rel in SHARED:
        files = [e["files"][rel] for e in data["applied"] if rel in e["files"]]  # in order
        for first, later in zip(files, files[1:], strict=False):
            first["after"] = later["before"]
    path.write_text(json.dumps(data))
    seen = status(tree)
    assert not [i for i, p in seen.items() if "changed since" in p["reason"]]
    assert source.revert(tree).ok and not (tree / STATE_DIR).exists()


def test_after_a_reinstall_revert_drops_both_records(tree):
    original = files_of(tree)
    assert source.apply(tree).ok
    for rel, data in original.items():  # pip reinstall: the release's files are back
        (tree / rel).write_bytes(data)
    reverted = source.revert(tree)
    assert reverted.ok, [r.message for r in reverted.results]
    assert {r.outcome for r in reverted.results} == {Outcome.NOT_APPLIED}
    assert files_of(tree) == original
