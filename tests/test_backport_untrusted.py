"""``backport`` on a repository that is someone else's content.

A fork repository's ``.git/config`` and committed ``.gitattributes`` can name
commands (fsmonitor, filters, merge and diff drivers, gpg, pager, editor,
hooks...); none of them runs during a backport, ``--dry-run``, ``--continue``
or ``--abort``. The state file names worktrees; ``--continue`` and
``--abort`` touch only one that this repository lists and that this backport
made and marked. A repository git refuses (another user's) is said to be so.
Each test works on a fresh copy of ``tests/gitrepos.py``'s fork repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitrepos import FIX_SUBJECT, MTP, commit_all, git, snapshot
from tests.helpers import run_cli
from tests.test_backport import CUSTOM, PROD, STABLE, fork, fork_template  # noqa: F401 (fixtures)
from vllm_patches.backport import gitenv
from vllm_patches.backport.state import state_path
from vllm_patches.backport.workflow import backport
from vllm_patches.core.catalog import get_patch
from vllm_patches.source.edit import patch_text

ATTRIBUTES = "*.py filter=evil merge=evil diff=evil\nREADME.md filter=evilproc\n"
HOOKS = ("pre-commit", "commit-msg", "post-commit", "post-checkout", "post-rewrite",
         "prepare-commit-msg", "reference-transaction", "pre-auto-gc", "post-index-change")


@dataclass(frozen=True)
class Armed:
    repo: Path
    witness: Path  # each configured command, if it ever runs, appends a line to witness/<name>

    def fired(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.witness.iterdir())}


def _script(folder: Path, witness: Path, name: str, then: str = "exit 1") -> str:
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "$*" >> {witness / name}\n{then}\n')
    path.chmod(0o755)
    return str(path)


def _fake_signed_commit(repo: Path, parent: str, subject: str) -> str:
    """A commit with a (fake) gpgsig header, so that showing it with log.showSignature runs
    gpg.program to verify it."""
    tree = git(repo, "rev-parse", f"{parent}^{{tree}}")
    when = "4102444800 +0000"  # 2100, after every other commit: never the oldest candidate
    body = (f"tree {tree}\nparent {parent}\nauthor A <a@example> {when}\n"
            f"committer A <a@example> {when}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n"
            f" iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\n{subject}\n")
    proc = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo,
                          input=body, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def armed(fork, tmp_path) -> Armed:  # noqa: F811 (fork is a fixture)
    """The fork with ``.gitattributes`` committed on its branches and a ``.git/config`` that
    names a command for everything git can be told to run."""
    for branch in ("main", PROD, CUSTOM):
        git(fork, "switch", "-q", branch)
        (fork / ".gitattributes").write_text(ATTRIBUTES)
        commit_all(fork, "acme: attributes")
    git(fork, "switch", "-q", "main")
    signed = _fake_signed_commit(fork, git(fork, "rev-parse", "main"), FIX_SUBJECT)
    git(fork, "branch", "signed", signed)

    bin_dir, witness, hooks = tmp_path / "bin", tmp_path / "witness", tmp_path / "hooks"
    for folder in (bin_dir, witness, hooks):
        folder.mkdir()
    for hook in HOOKS:
        _script(hooks, witness, hook, then="exit 0")
        _script(fork / ".git" / "hooks", witness, hook, then="exit 0")
    config = {
        "core.fsmonitor": _script(bin_dir, witness, "fsmonitor"),
        "core.hooksPath": str(hooks),
        "filter.evil.clean": _script(bin_dir, witness, "clean", then="exec cat"),
        "filter.evil.smudge": _script(bin_dir, witness, "smudge", then="exec cat"),
        "filter.evil.required": "true",
        "filter.evilproc.process": _script(bin_dir, witness, "filter-process"),
        "merge.evil.driver": _script(bin_dir, witness, "merge-driver") + " %O %A %B",
        "diff.evil.textconv": _script(bin_dir, witness, "textconv"),
        "diff.evil.command": _script(bin_dir, witness, "diff-driver"),
        "diff.external": _script(bin_dir, witness, "diff-external"),
        "commit.gpgSign": "true",
        "tag.gpgSign": "true",
        "log.showSignature": "true",
        "gpg.program": _script(bin_dir, witness, "gpg"),
        "core.pager": _script(bin_dir, witness, "pager"),
        "pager.log": _script(bin_dir, witness, "pager-log"),
        "core.editor": _script(bin_dir, witness, "editor"),
        "sequence.editor": _script(bin_dir, witness, "sequence-editor"),
        "core.sshCommand": _script(bin_dir, witness, "ssh"),
        "core.askPass": _script(bin_dir, witness, "askpass"),
        "credential.helper": _script(bin_dir, witness, "credential"),
        "gc.auto": "1",
    }
    for key, value in config.items():
        git(fork, "config", key, value)
    stat = (fork / MTP).stat()  # the checkout's file looks changed: git diff must read it
    os.utime(fork / MTP, (stat.st_atime, stat.st_mtime + 10))
    return Armed(fork, witness)


def _fix_by_hand(tree: Path) -> None:
    patch = get_patch(STABLE)
    (tree / MTP).write_text(patch_text(patch, patch.targets[0], (tree / MTP).read_text(),
                                       force=True))


# Configured commands -----------------------------------------------------------------
def test_a_dry_run_runs_none_of_the_repositorys_commands(armed):
    for strategy in ("edit", "cherry-pick"):
        proc = run_cli("backport", "--repo", str(armed.repo), "--onto", PROD, "--onto", CUSTOM,
                       STABLE, "--strategy", strategy, "--dry-run")
        assert proc.returncode in (0, 1), proc.stderr
        assert "would-create" in proc.stdout
    assert armed.fired() == {}


def test_backport_continue_and_abort_run_none_of_the_repositorys_commands(armed):
    created = run_cli("backport", "--repo", str(armed.repo), "--onto", PROD, STABLE,
                      "--json")
    [row] = json.loads(created.stdout)["results"]
    assert row["outcome"] == "created", row
    picked = run_cli("backport", "--repo", str(armed.repo), "--onto", PROD, STABLE,
                     "--strategy", "cherry-pick", "--branch", "picked/{onto}", "--json")
    [row] = json.loads(picked.stdout)["results"]
    assert row["outcome"] == "created", row

    [kept] = backport(armed.repo, [CUSTOM], [STABLE], keep_conflicts=True)
    assert kept.outcome == "kept"
    _fix_by_hand(Path(kept.worktree))
    done = run_cli("backport", "--repo", str(armed.repo), "--continue")
    assert done.returncode == 0, done.stdout + done.stderr

    [conflict] = backport(armed.repo, [CUSTOM], [STABLE], strategy="cherry-pick",
                          keep_conflicts=True, branch="picked/{onto}")
    assert conflict.outcome == "kept" and f"conflicts in {MTP}" in conflict.reason
    assert "<<<<<<< ours" in (Path(conflict.worktree) / MTP).read_text()  # git's own merge
    aborted = run_cli("backport", "--repo", str(armed.repo), "--abort")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr

    assert armed.fired() == {}


def test_the_armed_repository_does_run_them_for_plain_git(armed, tmp_path):
    """The control: the same repository, with git's own defaults, runs what it names."""
    first = tmp_path / "first-worktree"
    git(armed.repo, "worktree", "add", "-q", "--detach", str(first), CUSTOM, check=False)
    git(armed.repo, "config", "--unset", "filter.evilproc.process")  # it failed that checkout
    tree = tmp_path / "plain-worktree"
    git(armed.repo, "worktree", "add", "-q", "--detach", str(tree), CUSTOM)  # smudge, hooks
    git(tree, "commit", "-q", "--allow-empty", "-m", "x", check=False)  # gpg, hooks
    git(tree, "cherry-pick", git(armed.repo, "rev-parse", "main~2"), check=False)  # merge driver
    git(armed.repo, "log", "-1", "--format=%H", "signed")  # log.showSignature: gpg
    git(armed.repo, "diff", "--quiet", check=False)  # fsmonitor, clean

    fired = armed.fired()
    for name in ("fsmonitor", "filter-process", "smudge", "clean", "merge-driver", "gpg",
                 "post-checkout", "reference-transaction"):
        assert name in fired, sorted(fired)


def test_every_name_the_configuration_defines_is_neutralised(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    (repo / "extra.inc").write_text('[filter "In Cluded"]\n\tclean = touch x\n')
    git(repo, "config", "include.path", str(repo / "extra.inc"))
    git(repo, "config", "merge.mine.driver", "touch y")
    git(repo, "config", "protocol.ext.allow", "always")
    git(repo, "config", "pager.log", "touch z")
    git(repo, "config", "hook.lint.command", "touch w")  # git 2.54's hooks named in config
    env = gitenv.environment(repo)
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
             for i in range(int(env["GIT_CONFIG_COUNT"]))}

    assert pairs["filter.In Cluded.clean"] == "" and pairs["filter.In Cluded.required"] == "false"
    assert pairs["merge.mine.driver"] == gitenv.MERGE_FILE
    assert pairs["protocol.ext.allow"] == "never" and pairs["protocol.allow"] == "never"
    assert pairs["pager.log"] == "false"
    assert pairs["hook.lint.enabled"] == "false" and pairs["hook.lint.event"] == ""
    assert pairs["core.fsmonitor"] == "false" and pairs["core.hooksPath"] == os.devnull
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    shown = gitenv.run(["config", "--get-all", "filter.In Cluded.clean"], repo)
    assert shown.stdout.decode().splitlines()[-1] == ""  # ours is the last, so the one in force


# Whose worktree ------------------------------------------------------------------------
def _state_naming(repo: Path, worktree: Path, branch: str, token: str = "0" * 32) -> None:
    entry = {"onto": CUSTOM, "onto_sha": git(repo, "rev-parse", CUSTOM), "patch": STABLE,
             "branch": branch, "worktree": str(worktree), "token": token,
             "strategy": "edit", "message": "[Backport] x\n", "vllm_version": "0.22.1",
             "version_from": "tag v0.22.1", "upstream_commit": None}
    state_path(repo / ".git").write_text(
        json.dumps({"format": 2, "written_by": "someone", "pending": [entry]}))


def test_abort_leaves_alone_a_folder_the_state_names_that_is_no_worktree_of_this_repo(
        fork, tmp_path):  # noqa: F811
    precious = tmp_path / "vllm-patches-backport-precious" / "tree"
    precious.mkdir(parents=True)
    (precious / "work.txt").write_text("unfinished\n")
    before = snapshot(fork)
    _state_naming(fork, precious, "backport/x")

    proc = run_cli("backport", "--repo", str(fork), "--abort")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "left alone" in proc.stdout and "is not a worktree of this repository" in proc.stdout
    assert (precious / "work.txt").read_text() == "unfinished\n"
    assert snapshot(fork) == before  # the state file, dropped, is all that changed


def test_abort_leaves_alone_the_users_own_worktree_even_of_the_same_name(fork, tmp_path):  # noqa: F811
    mine = tmp_path / "vllm-patches-backport-mine" / "tree"
    git(fork, "worktree", "add", "-q", "-b", "mine", str(mine), CUSTOM)
    (mine / "work.txt").write_text("unfinished\n")
    before = snapshot(fork)
    _state_naming(fork, mine, "mine")

    proc = run_cli("backport", "--repo", str(fork), "--abort")
    assert proc.returncode == 1 and "was not left by this backport" in proc.stdout
    assert (mine / "work.txt").read_text() == "unfinished\n"
    assert snapshot(fork) == before
    _state_naming(fork, mine, "mine")
    proc = run_cli("backport", "--repo", str(fork), "--continue")
    assert proc.returncode == 1 and "nothing committed" in proc.stdout
    assert git(mine, "rev-parse", "HEAD") == git(fork, "rev-parse", CUSTOM)


def test_abort_leaves_alone_a_kept_worktree_whose_token_or_branch_the_state_changed(fork):  # noqa: F811
    [kept] = backport(fork, [CUSTOM], [STABLE], keep_conflicts=True)
    state = state_path(fork / ".git")
    original = json.loads(state.read_text())
    for change, says in ({"token": "f" * 32}, "was not left by this backport"), \
                        ({"branch": "main"}, "not the backport's branch main"):
        data = json.loads(json.dumps(original))
        data["pending"][0].update(change)
        state.write_text(json.dumps(data))
        proc = run_cli("backport", "--repo", str(fork), "--abort")
        assert proc.returncode == 1 and says in proc.stdout
        assert Path(kept.worktree).is_dir() and git(fork, "rev-parse", "main")
    state.write_text(json.dumps(original))
    assert run_cli("backport", "--repo", str(fork), "--abort").returncode == 0
    assert not Path(kept.worktree).exists()


def test_abort_in_a_copy_of_the_repository_leaves_the_originals_kept_worktree(fork, tmp_path):  # noqa: F811
    [kept] = backport(fork, [CUSTOM], [STABLE], keep_conflicts=True)
    tree = Path(kept.worktree)
    _fix_by_hand(tree)  # the user's unfinished work, not committed yet
    work = (tree / MTP).read_text()
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(fork), str(copy)], check=True)

    cont = run_cli("backport", "--repo", str(copy), "--continue")
    assert cont.returncode == 1 and "belongs to another repository" in cont.stdout
    abort = run_cli("backport", "--repo", str(copy), "--abort")
    assert abort.returncode == 1 and "belongs to another repository" in abort.stdout
    assert "Traceback" not in cont.stderr + abort.stderr

    assert (tree / MTP).read_text() == work
    assert git(tree, "rev-parse", "HEAD") == git(fork, "rev-parse", CUSTOM)  # nothing committed
    assert str(tree) in git(fork, "worktree", "list", "--porcelain")
    done = run_cli("backport", "--repo", str(fork), "--continue")  # the original finishes it
    assert done.returncode == 0, done.stdout + done.stderr
    assert not tree.exists()


# Whose repository ----------------------------------------------------------------------
def _digest(folder: Path) -> str:
    """Every name, mode and byte under ``folder`` (symlinks not followed)."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        for name in sorted(dirs + files):
            path = Path(root, name)
            st = path.lstat()
            h.update(f"{path.relative_to(folder)}\0{st.st_mode}\0{st.st_uid}\0".encode())
            if path.is_file() and not path.is_symlink():
                h.update(path.read_bytes())
    return h.hexdigest()


def _owned_by_another_user(repo: Path) -> dict[str, str]:
    """Make git see ``repo`` as another user's: chown it (as root; git's check applies to
    root too), else git's own test switch. The environment to run with."""
    if os.geteuid() != 0:
        return {"GIT_TEST_ASSUME_DIFFERENT_OWNER": "1"}
    for root, dirs, files in os.walk(repo):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), 12345, 12345)
    os.lchown(repo, 12345, 12345)
    return {}


def test_a_repository_owned_by_another_user_is_refused_as_such_and_left_as_it_was(fork):  # noqa: F811
    env = _owned_by_another_user(fork)
    before = _digest(fork)
    for args in (["--onto", PROD], ["--onto", PROD, "--dry-run"], ["--continue"], ["--abort"]):
        proc = run_cli("backport", "--repo", str(fork), *args, **env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.startswith("vllm-patches: git refuses to work in the repository")
        assert "dubious ownership" in proc.stderr
        assert env or "uid 12345" in proc.stderr
        assert f"git config --global --add safe.directory {fork}" in proc.stderr
        assert "no commits" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert _digest(fork) == before

    trusted = {**env, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory",
               "GIT_CONFIG_VALUE_0": str(fork)}  # git's remedy, for this command alone
    proc = run_cli("backport", "--repo", str(fork), "--onto", PROD, "--dry-run", **trusted)
    assert proc.returncode == 0 and "would-create" in proc.stdout, proc.stderr


def test_a_repository_whose_config_git_cannot_read_is_refused_before_any_command(fork):  # noqa: F811
    config = fork / ".git" / "config"
    config.write_text(config.read_text() + "[filter \"evil\"\n\tclean = touch /tmp/never\n")
    before = _digest(fork)
    proc = run_cli("backport", "--repo", str(fork), "--onto", PROD, "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("vllm-patches: git cannot read the configuration")
    assert "bad config line" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _digest(fork) == before
