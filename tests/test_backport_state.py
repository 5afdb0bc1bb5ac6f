"""The state file of backports left to the user (--keep-conflicts): read as untrusted input."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from tests.gitrepos import commit_all, init_repo
from tests.helpers import run_cli
from vllm_patches.backport.state import (
    MAX_BYTES,
    MAX_MESSAGE,
    Pending,
    StateError,
    load,
    save,
    state_path,
)

ITEM = Pending(onto="acme/v0.22-custom", onto_sha="a" * 40, patch="gemma4-mtp-stable-lm-head",
               branch="backport/x/acme/v0.22-custom",
               worktree="/tmp/vllm-patches-backport-abc123/tree", token="0" * 32,
               strategy="edit", message="[Backport] x\n", vllm_version="0.22.1")


def test_pending_backports_round_trip_and_the_file_goes_when_none_is_left(tmp_path):
    assert load(tmp_path) == []
    save(tmp_path, [ITEM])
    assert load(tmp_path) == [ITEM]
    save(tmp_path, [])
    assert not state_path(tmp_path).exists()


def _state(**changes) -> dict:
    entry = {**asdict(ITEM), **changes}
    return {"format": 2, "written_by": "vllm-patches test", "pending": [entry]}


def _without(key: str) -> dict:
    data = _state()
    del data["pending"][0][key]
    return data


@pytest.mark.parametrize("content, says", [
    ("{not json", "unreadable JSON"),
    ("[]", "not a JSON object"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (b"\xff\xfe", "unreadable JSON"),
    ({"format": 2, "pending": []}, "lacks written_by"),
    ({**_state(), "format": 1}, "format 1 where this vllm-patches reads 2"),
    ({**_state(), "extra": 1}, "unknown fields: extra"),
    ({**_state(), "pending": []}, "not a list of 1 to"),
    ({**_state(), "pending": {"a": 1}}, "not a list of 1 to"),
    ({**_state(), "pending": ["x"]}, "backport 1 is not an object"),
    (_without("token"), "backport 1 lacks token"),
    (_state(onto=1), "'onto' of backport 1 is not a text"),
    (_state(onto="a\nb"), "'onto' of backport 1 is more than one line"),
    (_state(onto_sha="HEAD"), "'onto_sha' of backport 1 is not a commit sha"),
    (_state(patch="../x"), "'patch' of backport 1 is not a patch id"),
    (_state(branch="-D"), "'branch' of backport 1 is not a branch name"),
    (_state(branch="x" * 5000), "'branch' of backport 1 is not a text of 1 to 1024"),
    (_state(worktree="relative/vllm-patches-backport-abc/tree"), "'worktree' of backport 1"),
    (_state(worktree="/home/me/src/fork"), "ending in vllm-patches-backport-*/tree"),
    (_state(worktree="/tmp/vllm-patches-backport-a/../../home/tree"), "'worktree' of backport 1"),
    (_state(worktree=["/tmp"]), "'worktree' of backport 1"),
    (_state(token="guess"), "'token' of backport 1 is not a vllm-patches marker token"),
    (_state(strategy="rebase"), "'strategy' of backport 1 is not one of edit, cherry-pick"),
    (_state(message="x" * (MAX_MESSAGE + 1)), "'message' of backport 1 is not a text"),
    (_state(vllm_version=22), "'vllm_version' of backport 1"),
    (_state(upstream_commit="main"), "'upstream_commit' of backport 1 is not a commit sha"),
    ({**_state(), "pending": [asdict(ITEM), {**asdict(ITEM), "branch": "other"}]},
     "two backports name the same worktree"),
])
def test_a_state_file_that_fails_a_check_is_one_sentence(tmp_path, content, says):
    if isinstance(content, dict):
        content = json.dumps(content)
    path = state_path(tmp_path)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(StateError, match="cannot be trusted") as caught:
        load(tmp_path)
    assert says in str(caught.value) and "nothing was removed" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_state_file_that_is_not_a_plain_file_or_is_too_large_is_refused_unread(tmp_path):
    path = state_path(tmp_path)
    os.mkfifo(path)  # a reader that opened it would block
    with pytest.raises(StateError, match=r"is not a plain file \(a FIFO\)"):
        load(tmp_path)
    path.unlink()
    (tmp_path / "elsewhere.json").write_text(json.dumps(_state()))
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(StateError, match=r"is not a plain file \(a symlink\)"):
        load(tmp_path)
    path.unlink()
    with open(path, "wb") as f:
        f.truncate(MAX_BYTES + 1)
    with pytest.raises(StateError, match="is larger than 8 MiB"):
        load(tmp_path)


def test_a_damaged_state_file_is_reported_not_guessed_and_nothing_is_removed(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "README").write_text("x\n")
    commit_all(repo, "first")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "work.txt").write_text("unfinished\n")
    state = state_path(repo / ".git")
    for content in ('{"pending": [{"onto": 1}]}', json.dumps(_state(worktree=str(precious)))):
        state.write_text(content)
        for verb in ("--abort", "--continue"):
            proc = run_cli("backport", "--repo", str(repo), verb)
            assert proc.returncode == 2, proc.stdout + proc.stderr
            assert proc.stderr.startswith("vllm-patches: The backport state file")
            assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
            assert state.read_text() == content
        refused = run_cli("backport", "--repo", str(repo), "--onto", "main")
        assert refused.returncode == 2 and "cannot be trusted" in refused.stderr
    assert (precious / "work.txt").read_text() == "unfinished\n"
