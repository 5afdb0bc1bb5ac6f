"""A kill -9 at every point of a source apply or revert, on a real release file: the next
command finishes the write and leaves no trace (no temporary, no state folder of a tree
with nothing applied); temporaries it did not make are never touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.kills import every_kill
from tests.synthetic import EARLIER
from tests.test_source import ID, MODULE, patched_bytes, small_tree, snapshot
from vllm_patches.core.catalog import get_patch
from vllm_patches.source import plan as source
from vllm_patches.source.record import RECORD_NAME, STATE_DIR, load, sha256_of
from vllm_patches.source.transaction import JOURNAL, LOCK

TXID = "4242-0badf00d"
pytestmark = pytest.mark.usefixtures("solo_env")


def traces(tree: Path) -> list[str]:
    """What a finished write must not leave: temporaries and journals, anywhere."""
    return sorted(str(p.relative_to(tree)) for p in tree.rglob("*")
                  if p.name.endswith(".tmp") or p.name == JOURNAL)


@pytest.fixture
def pristine(tmp_path):
    """A small tree, kept aside, and a copy of it with the fix applied."""
    tree = small_tree(tmp_path / "pristine")
    patched = tmp_path / "patched"
    shutil.copytree(tree, patched)
    assert source.apply(patched).ok
    return tree, patched


def copier(model: Path, tree: Path):
    """``fresh()``: ``tree`` made anew as a copy of ``model``."""
    def fresh() -> None:
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(model, tree)
    return fresh


@pytest.mark.parametrize("killed,then", [("apply", "revert"), ("revert", "apply")])
def test_a_kill_at_any_change_leaves_a_tree_the_next_command_tidies(pristine, tmp_path,
                                                                  killed, then):
    tree = tmp_path / "tree"
    unpatched, patched = pristine
    original = (unpatched / MODULE).read_bytes()
    whole = (original, patched_bytes(original))
    points = 0
    for k in every_kill(lambda: getattr(source, killed)(tree),
                        copier(patched if killed == "revert" else unpatched, tree)):
        points += 1
        assert (tree / MODULE).read_bytes() in whole, k
        report = getattr(source, then)(tree)
        assert report.ok, (k, [r.message for r in report.results])
        assert traces(tree) == [], k
        if then == "apply":
            assert (tree / MODULE).read_bytes() == whole[1], k
            assert load(tree).get(ID).files[MODULE].after == sha256_of(whole[1]), k
            assert set(os.listdir(tree / STATE_DIR)) <= {RECORD_NAME, LOCK}, k
        else:
            assert snapshot(tree) == snapshot(unpatched), k  # not even .vllm-patches/
    assert points > 15


def planted(tree: Path) -> dict[str, bytes]:
    """Temporaries a kill of vllm-patches leaves with no journal left to name them."""
    return {f"{STATE_DIR}/.journal.json.4242.7f3a9c2e10.tmp": b'{"id": "4242-0badf00d"',
            f"{STATE_DIR}/journal.json.tmp": b"{",  # how vllm-patches 0.1.0 named it
            f"{STATE_DIR}/.{RECORD_NAME}.vllm-patches-{TXID}.tmp": b"{}",
            str(Path(MODULE).parent / f".{Path(MODULE).name}.vllm-patches-{TXID}.tmp"): b"x"}


def not_ours(tree: Path) -> dict[str, bytes]:
    """Names close to ours that vllm-patches never gives: somebody else's files."""
    folder = str(Path(MODULE).parent)
    return {f"{STATE_DIR}/.journal.json.tmp": b"mine", f"{STATE_DIR}/notes.tmp": b"mine",
            f"{STATE_DIR}/.journal.json.4242.tmp": b"mine",
            f"{folder}/.gemma4_mtp.py.vllm-patches-oops.tmp": b"mine",
            f"{folder}/.gemma4_mtp.py.4242.7f3a.tmp": b"mine",  # write_atomic's, not commit's
            f"{folder}/scratch.tmp": b"mine"}


def plant(tree: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)


@pytest.mark.parametrize("verb", ["apply", "revert"])
def test_the_next_command_removes_our_temporaries_and_only_ours(tmp_path, verb):
    tree = small_tree(tmp_path)
    if verb == "revert":
        assert source.apply(tree).ok
    plant(tree, planted(tree) | not_ours(tree))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x").write_bytes(b"precious")
    link = tree / STATE_DIR / f".{RECORD_NAME}.vllm-patches-1-00000000.tmp"
    link.symlink_to(elsewhere / "x")  # our name, but a symlink: not a file we left
    assert getattr(source, verb)(tree).ok
    for rel in planted(tree):
        assert not os.path.lexists(tree / rel), rel
    for rel, data in not_ours(tree).items():
        assert (tree / rel).read_bytes() == data, rel
    assert os.path.islink(link) and (elsewhere / "x").read_bytes() == b"precious"


def test_a_state_folder_left_with_only_a_temporary_goes(tmp_path):
    tree = small_tree(tmp_path)
    before = snapshot(tree)
    plant(tree, planted(tree))
    report = source.revert(tree)  # nothing to revert: it still tidies
    assert report.ok and snapshot(tree) == before


@pytest.mark.parametrize("left", [[], [LOCK]], ids=["empty", "lock only"])
def test_a_state_folder_left_empty_or_with_its_lock_goes(tmp_path, left):
    tree = small_tree(tmp_path)
    before = snapshot(tree)
    plant(tree, {f"{STATE_DIR}/{name}": b"" for name in left})
    (tree / STATE_DIR).mkdir(exist_ok=True)
    assert source.apply(tree, [get_patch(EARLIER)]).results
    assert snapshot(tree) == before and not (tree / STATE_DIR).exists()
