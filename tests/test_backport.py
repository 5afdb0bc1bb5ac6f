"""``vllm-patches backport``: fixes onto fork branches as reviewable commits.

Every test works on a real git repository made from the real vLLM release
trees (see ``tests/gitrepos.py``): upstream ``main`` with a tag per release
and the fix's squash-merge commit, and the fork branches ``acme/v0.22-prod``
(0.22.1 with fork commits), ``acme/v0.22-custom`` (the fork changed the
target function) and ``acme/v0.23-prod`` (0.23.0, which has the fix).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.gitrepos import (FIX_SUBJECT, FORK_RETURN, MTP, build_fork_repo, commit_all,
                            copy_files, git, init_repo, snapshot, trailers)
from tests.helpers import run_cli, run_python, run_scenario
from vllm_patches import __version__
from vllm_patches.backport.workflow import backport, upstream_commit
from vllm_patches.backport.state import state_path
from vllm_patches.core.catalog import get_patch
from vllm_patches.source.edit import patch_text
from vllm_patches.core.state import FIXED, PATCHED, classify

STABLE = "gemma4-mtp-stable-lm-head"
RELOAD = "gemma4-mtp-lm-head-reload"
PROD, CUSTOM, NEWER = "acme/v0.22-prod", "acme/v0.22-custom", "acme/v0.23-prod"


@pytest.fixture(scope="session")
def fork_template(tmp_path_factory, release):
    return build_fork_repo(tmp_path_factory.mktemp("template") / "fork", release)


@pytest.fixture
def fork(fork_template, tmp_path):
    """A fresh copy of the fork repository for one test."""
    return Path(shutil.copytree(fork_template, tmp_path / "fork", symlinks=True))


def new_branch(onto: str, patch: str = STABLE) -> str:
    return f"backport/{patch}/{onto}"


def fork_repo(path: Path):
    from vllm_patches.backport.gitrepo import open_repo

    return open_repo(path)


def show(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


def unchanged_but_new_branches(before: dict, after: dict, *branches: str) -> None:
    """The repository is as it was, except for ``branches`` (and git's packed-refs file)."""
    new_refs = [line for line in after["refs"].splitlines()
                if line.split()[0] in {f"refs/heads/{b}" for b in branches}]
    assert len(new_refs) == len(branches)
    kept_refs = [line for line in after["refs"].splitlines() if line not in new_refs]
    assert kept_refs == before["refs"].splitlines()
    for key in ("head", "head_sha", "index", "status", "stash", "worktrees"):
        assert after[key] == before[key], key
    assert after["git_dir"] == before["git_dir"]


# A backport commit ------------------------------------------------------------------
def test_the_fix_lands_as_one_commit_on_a_new_branch_off_the_fork_branch(fork, release):
    tip = git(fork, "rev-parse", PROD)
    [result] = backport(fork, [PROD], [STABLE])

    assert result.outcome == "created"
    assert result.branch == new_branch(PROD)
    assert git(fork, "rev-parse", result.branch) == result.sha
    assert git(fork, "rev-parse", f"{result.sha}^") == tip
    assert git(fork, "diff", "--name-only", tip, result.sha) == MTP
    patch = get_patch(STABLE)
    original = (release("0.22.1") / MTP).read_text()
    committed = show(fork, result.sha, MTP)
    assert committed + "\n" == patch_text(patch, patch.targets[0], original)
    assert classify(patch, patch.targets[0], committed).kind == PATCHED


def test_the_commit_message_names_the_upstream_pr_and_carries_provenance_trailers(fork):
    [result] = backport(fork, [PROD], [STABLE])
    message = git(fork, "log", "-1", "--format=%B", result.sha)
    patch = get_patch(STABLE)

    assert message.splitlines()[0] == f"[Backport] {patch.title}"
    assert "Backport of vllm-project/vllm#43909 to acme/v0.22-prod" in " ".join(message.split())
    assert trailers(fork, result.sha) == {
        "Backport-of": "vllm-project/vllm#43909",
        "Origin": "https://github.com/vllm-project/vllm/pull/43909",
        "Applied-Upstream": "0.23.0",
        "Patch-id": STABLE,
        "Applied-by": f"vllm-patches {__version__}",
    }
    assert git(fork, "log", "-1", "--format=%an <%ae>", result.sha) == \
        "Acme Maintainer <maintainer@acme.example>"


def test_the_callers_checkout_head_index_and_stash_are_never_touched(fork):
    before = snapshot(fork)
    backport(fork, [PROD, NEWER], [STABLE, RELOAD])
    unchanged_but_new_branches(before, snapshot(fork), new_branch(PROD),
                               new_branch(NEWER, RELOAD))


def test_the_repositorys_hooks_do_not_run_for_the_tools_commands(fork, tmp_path):
    witness = tmp_path / "hook-ran"
    for hook in ("pre-commit", "post-checkout", "commit-msg"):
        script = fork / ".git" / "hooks" / hook
        script.write_text(f"#!/bin/sh\necho {hook} >> {witness}\nexit 1\n")
        script.chmod(0o755)
    [result] = backport(fork, [PROD], [STABLE])
    assert result.outcome == "created"
    assert not witness.exists()


# What each branch needs --------------------------------------------------------------
def test_each_branch_is_judged_at_its_own_version(fork):
    results = {(r.onto, r.patch): r
               for r in backport(fork, [PROD, CUSTOM, NEWER], [STABLE, RELOAD], dry_run=True)}

    assert results[PROD, STABLE].vllm_version == "0.22.1+acme.3"
    assert results[PROD, STABLE].version_from == "tag v0.22.1+acme.3 + 1 commit"
    assert results[NEWER, STABLE].version_from == "vllm/_version.py"
    assert {k: r.outcome for k, r in results.items()} == {
        (PROD, STABLE): "would-create", (PROD, RELOAD): "not-applicable",
        (CUSTOM, STABLE): "blocked", (CUSTOM, RELOAD): "not-applicable",
        (NEWER, STABLE): "already-fixed", (NEWER, RELOAD): "would-create",
    }


def test_a_branch_that_already_has_the_fix_gets_no_commit(fork):
    before = snapshot(fork)
    [result] = backport(fork, [NEWER], [STABLE])

    assert result.outcome == "already-fixed"
    assert result.branch is None and result.sha is None
    assert snapshot(fork) == before


def test_running_it_again_commits_nothing_new(fork):
    [first] = backport(fork, [PROD], [STABLE])
    refs = git(fork, "for-each-ref")
    [again] = backport(fork, [PROD], [STABLE])

    assert again.outcome == "already-backported"
    assert (again.branch, again.sha) == (first.branch, first.sha)
    assert git(fork, "for-each-ref") == refs


def test_an_existing_branch_of_that_name_without_the_fix_blocks(fork):
    git(fork, "branch", new_branch(PROD), PROD)
    refs = git(fork, "for-each-ref")
    [result] = backport(fork, [PROD], [STABLE])

    assert result.outcome == "blocked"
    assert "exists but does not hold the fix" in result.reason
    assert git(fork, "for-each-ref") == refs


def test_a_branch_without_a_version_is_judged_by_its_code_alone(tmp_path, release):
    repo = init_repo(tmp_path / "untagged")
    copy_files(release("0.22.1"), repo)
    commit_all(repo, "import 0.22.1 without tags")
    [result] = backport(repo, ["main"], [STABLE])

    assert result.outcome == "created"
    assert result.vllm_version is None and result.version_from == "unknown"
    assert "version unknown" in result.reason


def test_vllm_version_overrides_every_branch(fork):
    [result] = backport(fork, [PROD], [STABLE], dry_run=True, vllm_version="0.23.1")
    assert (result.vllm_version, result.version_from) == ("0.23.1", "--vllm-version")
    assert result.outcome == "would-create"  # outside the range, but the code is pre-fix


def test_several_branches_at_once_with_a_summary_per_branch(fork):
    proc = run_cli("backport", "--repo", str(fork), "--onto", PROD, "--onto", CUSTOM,
                   "--onto", NEWER, STABLE, "--json")
    rows = {r["onto"]: r for r in json.loads(proc.stdout)["results"]}

    assert proc.returncode == 1  # one branch is blocked
    assert rows[PROD]["outcome"] == "created"
    assert rows[PROD]["sha"] == git(fork, "rev-parse", new_branch(PROD))
    assert rows[CUSTOM]["outcome"] == "blocked"
    assert "a fork changed it" in rows[CUSTOM]["reason"]
    assert rows[NEWER]["outcome"] == "already-fixed"

    table = run_cli("backport", "--repo", str(fork), "--onto", PROD, "--onto", NEWER,
                    STABLE)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0] == f"{PROD}: vLLM 0.22.1+acme.3 (tag v0.22.1+acme.3 + 1 commit)"
    assert any(line.split()[:4] == [PROD, STABLE, "already-backported", new_branch(PROD)]
               for line in lines)
    assert any(line.split()[:3] == [NEWER, STABLE, "already-fixed"] for line in lines)


def test_dry_run_changes_nothing(fork):
    before = snapshot(fork)
    results = backport(fork, [PROD, NEWER], [STABLE, RELOAD], dry_run=True)
    assert {r.outcome for r in results} == {"would-create", "not-applicable", "already-fixed"}
    assert snapshot(fork) == before


# A fork that changed the target --------------------------------------------------------
def test_a_fork_changed_target_is_refused_and_leaves_the_repo_exactly_as_it_was(fork):
    before = snapshot(fork)
    [result] = backport(fork, [CUSTOM], [STABLE])

    assert result.outcome == "blocked"
    assert "_get_full_lm_head_weight differs" in result.reason
    assert snapshot(fork) == before
    assert not state_path(fork / ".git").exists()


def test_force_writes_the_fix_around_the_forks_change(fork):
    [result] = backport(fork, [CUSTOM], [STABLE], force=True)

    assert result.outcome == "created"
    committed = show(fork, result.sha, MTP)
    assert FORK_RETURN.strip() in committed  # kept, inside the renamed original
    assert classify(get_patch(STABLE), get_patch(STABLE).targets[0], committed).kind == PATCHED


def test_keep_conflicts_leaves_a_worktree_that_continue_commits(fork):
    before = snapshot(fork)
    tip = git(fork, "rev-parse", CUSTOM)
    [kept] = backport(fork, [CUSTOM], [STABLE], keep_conflicts=True)

    assert kept.outcome == "kept"
    tree = Path(kept.worktree)
    assert git(tree, "symbolic-ref", "HEAD") == f"refs/heads/{new_branch(CUSTOM)}"
    assert git(tree, "rev-parse", "HEAD") == tip
    assert state_path(fork / ".git").is_file()
    refused = run_cli("backport", "--repo", str(fork), "--onto", PROD)
    assert refused.returncode == 2 and "--continue" in refused.stderr

    not_yet = run_cli("backport", "--repo", str(fork), "--continue")
    assert not_yet.returncode == 1 and "kept" in not_yet.stdout

    patch = get_patch(STABLE)  # the maintainer reviews the fork's change and writes the fix
    (tree / MTP).write_text(patch_text(patch, patch.targets[0], (tree / MTP).read_text(),
                                       force=True))
    done = run_cli("backport", "--repo", str(fork), "--continue", "--json")
    [row] = json.loads(done.stdout)["results"]

    assert done.returncode == 0 and row["outcome"] == "created"
    assert git(fork, "rev-parse", f"{new_branch(CUSTOM)}^") == tip
    assert trailers(fork, new_branch(CUSTOM))["Patch-id"] == STABLE
    assert not tree.exists() and not state_path(fork / ".git").exists()
    unchanged_but_new_branches(before, snapshot(fork), new_branch(CUSTOM))


def test_abort_removes_the_kept_worktree_branch_and_state(fork):
    before = snapshot(fork)
    [kept] = backport(fork, [CUSTOM], [STABLE], keep_conflicts=True)
    proc = run_cli("backport", "--repo", str(fork), "--abort")

    assert proc.returncode == 0 and "aborted" in proc.stdout
    assert not Path(kept.worktree).exists() and not Path(kept.worktree).parent.exists()
    assert snapshot(fork) == before
    nothing = run_cli("backport", "--repo", str(fork), "--abort")
    assert nothing.returncode == 2 and "No backport is waiting" in nothing.stderr


def test_a_kept_worktree_deleted_by_hand_is_still_cleaned_up_by_abort(fork):
    before = snapshot(fork)
    [kept] = backport(fork, [CUSTOM], [STABLE], keep_conflicts=True)
    shutil.rmtree(kept.worktree)

    gone = run_cli("backport", "--repo", str(fork), "--continue")
    assert gone.returncode == 1 and "is gone" in gone.stdout
    assert run_cli("backport", "--repo", str(fork), "--abort").returncode == 0
    assert snapshot(fork) == before


# Strategy cherry-pick ---------------------------------------------------------------
def test_cherry_pick_takes_the_upstream_commit_with_x(fork, release):
    fix_commit = git(fork, "log", "-1", "--format=%H", "--grep=(#43909)", "main")
    [result] = backport(fork, [PROD], [STABLE], strategy="cherry-pick")

    assert result.outcome == "created"
    assert git(fork, "rev-parse", f"{result.sha}^") == git(fork, "rev-parse", PROD)
    message = git(fork, "log", "-1", "--format=%B", result.sha)
    assert message.splitlines()[0] == FIX_SUBJECT
    assert f"(cherry picked from commit {fix_commit})" in message
    assert trailers(fork, result.sha)["Backport-of"] == "vllm-project/vllm#43909"
    committed = show(fork, result.sha, MTP)
    assert committed + "\n" == (release("0.23.0") / MTP).read_text()
    patch = get_patch(STABLE)
    assert classify(patch, patch.targets[0], committed).kind == FIXED


def test_cherry_pick_conflict_rolls_back(fork):
    before = snapshot(fork)
    [result] = backport(fork, [CUSTOM], [STABLE], strategy="cherry-pick")

    assert result.outcome == "blocked"
    assert result.reason.endswith(f"conflicts in {MTP}")
    assert snapshot(fork) == before


def test_cherry_pick_conflict_kept_then_continued_after_resolving(fork, release):
    [kept] = backport(fork, [CUSTOM], [STABLE], strategy="cherry-pick", keep_conflicts=True)
    tree = Path(kept.worktree)
    assert git(tree, "diff", "--name-only", "--diff-filter=U") == MTP

    unresolved = run_cli("backport", "--repo", str(fork), "--continue")
    assert unresolved.returncode == 1 and "conflicts remain" in unresolved.stdout

    shutil.copyfile(release("0.23.0") / MTP, tree / MTP)  # take upstream's side
    git(tree, "add", MTP)
    done = run_cli("backport", "--repo", str(fork), "--continue")
    assert done.returncode == 0, done.stdout + done.stderr
    message = git(fork, "log", "-1", "--format=%B", new_branch(CUSTOM))
    assert message.startswith(FIX_SUBJECT) and "(cherry picked from commit " in message
    assert trailers(fork, new_branch(CUSTOM))["Patch-id"] == STABLE
    assert git(fork, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_cherry_pick_prefers_the_catalogues_upstream_commit(fork):
    patch = get_patch(STABLE)
    release_commit = git(fork, "rev-parse", "v0.23.0")
    by_subject = git(fork, "log", "-1", "--format=%H", "--grep=(#43909)", "main")
    tip = git(fork, "rev-parse", PROD)

    assert upstream_commit(fork_repo(fork), patch, tip) == by_subject
    recorded = replace(patch, upstream_commit=release_commit)
    assert upstream_commit(fork_repo(fork), recorded, tip) == release_commit
    absent = replace(patch, upstream_commit="0123456789abcdef")
    assert upstream_commit(fork_repo(fork), absent, tip) == by_subject


def test_cherry_pick_needs_the_upstream_commit(tmp_path, release, fork):
    repo = init_repo(tmp_path / "no-upstream")
    copy_files(release("0.22.1"), repo)
    commit_all(repo, "vLLM 0.22.1")
    [missing] = backport(repo, ["main"], [STABLE], strategy="cherry-pick")
    assert missing.outcome == "blocked" and "is not in this repository" in missing.reason

    [own] = backport(fork, [NEWER], [RELOAD], strategy="cherry-pick")
    assert own.outcome == "blocked" and "not merged upstream" in own.reason


# Bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--onto", "acme/v0.99"], "No branch, tag or commit 'acme/v0.99'"),
    (["--onto", PROD, "no-such-patch"], "Unknown patch id 'no-such-patch'"),
    (["--onto", PROD, "--onto", CUSTOM, "--branch", "backport/mtp"], "same branch"),
    (["--onto", PROD, "--branch", "bad..name"], "not a valid git branch name"),
    (["--onto", "v0.22.1^{tree}"], "No branch, tag or commit"),
    ([], "--onto BRANCH"),
    (["--continue"], "No backport is waiting"),
    (["--continue", "--abort"], "either --continue or --abort"),
    (["--continue", "--onto", PROD], "take only --repo"),
])
def test_bad_input_says_one_sentence_and_changes_nothing(fork, args, says):
    before = snapshot(fork)
    proc = run_cli("backport", "--repo", str(fork), *args)

    assert proc.returncode == 2
    assert says in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert snapshot(fork) == before


@pytest.mark.parametrize("staged", [False, True])
def test_a_dirty_checkout_is_refused(fork, staged):
    (fork / "README.md").write_text("half-done edit\n")
    if staged:
        git(fork, "add", "README.md")
    before = snapshot(fork)
    proc = run_cli("backport", "--repo", str(fork), "--onto", PROD)

    assert proc.returncode == 2 and "uncommitted changes" in proc.stderr
    assert snapshot(fork) == before


def test_a_repository_without_commits_or_no_repository_is_refused(tmp_path):
    unborn = init_repo(tmp_path / "unborn")
    proc = run_cli("backport", "--repo", str(unborn), "--onto", "main")
    assert proc.returncode == 2 and "has no commits yet" in proc.stderr
    assert git(unborn, "for-each-ref") == ""

    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_cli("backport", "--repo", str(plain), "--onto", "main")
    assert proc.returncode == 2 and "is not inside a git repository" in proc.stderr


def test_a_branch_without_vllm_is_refused(fork):
    git(fork, "branch", "docs", git(fork, "commit-tree", "-m", "docs only",
                                     git(fork, "hash-object", "-t", "tree", "-w", "/dev/null")))
    proc = run_cli("backport", "--repo", str(fork), "--onto", "docs")
    assert proc.returncode == 2 and "not a vLLM tree" in proc.stderr


def test_status_does_not_import_gitpython():
    proc = run_python(["-c", (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from vllm_patches.cli.main import cli\n"
        "CliRunner().invoke(cli, ['status'])\n"
        "print(any(m == 'git' or m.startswith('git.') for m in sys.modules))\n"
    )])
    assert proc.stdout.strip() == "False"


# The backported code works ---------------------------------------------------------------
@pytest.fixture(scope="session")
def full_fork(tmp_path_factory, release):
    """A fork repository of the whole 0.22.1 ``vllm/`` package, with the fix backported."""
    repo = init_repo(tmp_path_factory.mktemp("full") / "fork")
    shutil.copytree(release("0.22.1") / "vllm", repo / "vllm")
    commit_all(repo, "vLLM 0.22.1")
    git(repo, "tag", "v0.22.1")
    git(repo, "switch", "-q", "-c", PROD)
    (repo / "vllm" / "acme_telemetry.py").write_text("ENDPOINT = 'https://t.acme.example'\n")
    commit_all(repo, "acme: telemetry endpoint")
    git(repo, "switch", "-q", "main")
    [result] = backport(repo, [PROD], [STABLE])
    assert result.outcome == "created"
    return repo, result


def test_the_backported_branch_runs_the_fix_without_any_runtime_patch(full_fork, tmp_path):
    repo, result = full_fork
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    archive = tmp_path / "branch.tar"
    git(repo, "archive", "-o", str(archive), result.branch)
    shutil.unpack_archive(archive, checkout)

    seen = run_scenario("backported_fix", checkout)

    assert Path(seen["module_file"]).is_relative_to(checkout.resolve())
    assert seen["runtime_applied"] == [] and seen["marked"] == []
    assert seen["has_original"]
    assert seen["gathers_before_reload"] == 1  # 22 calls, one all-gather
    assert seen["gathers_total"] == 2  # the reload gathers once more, into the same storage
    assert seen["same_storage"]
    assert seen["values_right_before"] and seen["values_right_after"]


def test_the_old_patch_option_still_picks_the_patches_with_a_notice(fork):
    """``--patch ID`` (the IDs as arguments now) works for one release: same results, one
    line on stderr, same exit code."""
    new = run_cli("backport", "--repo", str(fork), "--onto", PROD, STABLE, "--dry-run",
                  "--json")
    old = run_cli("backport", "--repo", str(fork), "--onto", PROD, "--patch", STABLE,
                  "--dry-run", "--json")
    assert (old.returncode, old.stdout) == (new.returncode, new.stdout)
    assert [r["patch"] for r in json.loads(new.stdout)["results"]] == [STABLE]
    assert "deprecated" not in new.stderr
    assert old.stderr.splitlines() == [
        "vllm-patches: warning: backport --patch ID is deprecated and goes in the next "
        "release; use backport ID... (the IDs as arguments)."]
