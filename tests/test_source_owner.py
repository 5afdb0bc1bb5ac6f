"""Root writing into another user's tree (a fork checkout, a virtualenv): everything
vllm-patches leaves there belongs to the tree's owner, who can revert without root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.test_source import MODULE, patched_bytes, small_tree, snapshot
from vllm_patches.source import plan as source
from vllm_patches.source.record import STATE_DIR
from vllm_patches.source.transaction import FAULT_ENV, FAULT_EXIT, JOURNAL

pytestmark = [pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                 reason="giving files to another user needs root"),
              pytest.mark.usefixtures("solo_env")]

OWNER = (4321, 4322)  # uid, gid: nobody's on this machine, and not root's


def owners(tree: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(tree)): (p.lstat().st_uid, p.lstat().st_gid)
            for p in [tree, *tree.rglob("*")]}


def as_owner(func):
    """``func()`` with the tree owner's effective ids (this process stays root's)."""
    os.setegid(OWNER[1])
    os.seteuid(OWNER[0])
    try:
        return func()
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def theirs():
    """A small tree owned by OWNER, in a folder OWNER can reach."""
    top = Path(tempfile.mkdtemp(prefix="vllm-patches-owner-"))
    os.chmod(top, 0o755)
    tree = small_tree(top)
    for path in [tree, *tree.rglob("*")]:
        os.lchown(path, *OWNER)
    yield tree
    shutil.rmtree(top)


def test_root_applying_into_another_users_tree_leaves_everything_theirs(theirs):
    before = snapshot(theirs)
    original = (theirs / MODULE).read_bytes()
    assert source.apply(theirs).ok
    assert (theirs / MODULE).read_bytes() == patched_bytes(original)
    assert (theirs / STATE_DIR).is_dir()
    assert {rel: o for rel, o in owners(theirs).items() if o != OWNER} == {}

    reverted = as_owner(lambda: source.revert(theirs))  # the owner, without root
    assert reverted.ok, [r.message for r in reverted.results]
    assert snapshot(theirs) == before


@pytest.mark.parametrize("step", ["prepared", "staged:1", "committed"])
def test_what_a_killed_write_leaves_is_theirs_and_they_finish_it(theirs, step):
    original = (theirs / MODULE).read_bytes()
    killed = run_cli("apply", "--target", str(theirs), **{FAULT_ENV: step})
    assert killed.returncode == FAULT_EXIT, killed.stderr
    assert (theirs / STATE_DIR / JOURNAL).exists()
    assert {rel: o for rel, o in owners(theirs).items() if o != OWNER} == {}

    applied = as_owner(lambda: source.apply(theirs))
    assert applied.ok, [r.message for r in applied.results]
    assert (theirs / MODULE).read_bytes() == patched_bytes(original)


def test_a_file_of_the_tree_keeps_its_own_owner(theirs):
    os.lchown(theirs / MODULE, 0, 0)  # one file root's own, in the user's tree
    assert source.apply(theirs).ok
    assert (theirs / MODULE).stat().st_uid == 0
    assert (theirs / STATE_DIR / "record.json").stat().st_uid == OWNER[0]


def test_root_in_its_own_tree_gives_nothing_away(tmp_path):
    tree = small_tree(tmp_path)
    assert source.apply(tree).ok
    assert set(owners(tree).values()) == {(0, 0)}
