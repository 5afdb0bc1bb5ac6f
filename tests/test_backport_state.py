"""The state file of backports left to the user (--keep-conflicts)."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from tests.gitrepos import commit_all, init_repo
from vllm_patches.backport.state import Pending, StateError, load, save, state_path

ITEM = Pending(onto="acme/v0.22-custom", onto_sha="a" * 40, patch="gemma4-mtp-stable-lm-head",
               branch="backport/x/acme/v0.22-custom", worktree="/tmp/wt", strategy="edit",
               message="[Backport] x\n", vllm_version="0.22.1")


def test_pending_backports_round_trip_and_the_file_goes_when_none_is_left(tmp_path):
    assert load(tmp_path) == []
    save(tmp_path, [ITEM])
    assert load(tmp_path) == [ITEM]
    save(tmp_path, [])
    assert not state_path(tmp_path).exists()


def test_a_damaged_state_file_is_reported_not_guessed(tmp_path):
    state_path(tmp_path).write_text("{not json")
    with pytest.raises(StateError, match="unreadable"):
        load(tmp_path)

    repo = init_repo(tmp_path / "repo")
    (repo / "README").write_text("x\n")
    commit_all(repo, "first")
    state_path(repo / ".git").write_text('{"pending": [{"onto": 1}]}')
    proc = run_cli("backport", "--repo", str(repo), "--abort")
    assert proc.returncode == 2 and "unreadable" in proc.stderr and "Traceback" not in proc.stderr
