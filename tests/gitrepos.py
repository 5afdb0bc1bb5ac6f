"""Fork repositories for the backport tests, built at test time from real release trees.

``build_fork_repo`` makes a small repository that looks like a fork's, holding
only the vLLM files the patches read (taken from the cached release wheels,
never from this repository):

- ``main``: upstream. ``v0.22.1`` (the release), then the fix of #43909 as
  upstream squash-merged it (its subject ends with ``(#43909)``; its
  ``gemma4_mtp.py`` is 0.23.0's), then ``v0.23.0``.
- ``acme/v0.22-prod``: 0.22.1 plus the fork's own commits, tagged
  ``v0.22.1+acme.3`` one commit before its tip.
- ``acme/v0.22-custom``: 0.22.1 whose ``_get_full_lm_head_weight`` the fork
  changed (the fix cannot be written in unreviewed).
- ``acme/v0.23-prod``: 0.23.0 (it has the fix), with the release's
  ``vllm/_version.py`` committed, as some forks do.

The caller's checkout is ``main`` with a stash entry and an untracked file,
so that tests can show that none of it is touched.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

MTP = "vllm/model_executor/models/gemma4_mtp.py"
FILES = ("vllm/__init__.py", MTP, "vllm/v1/spec_decode/gemma4.py")
FIX_SUBJECT = "[Bugfix] Gemma 4 MTP: keep the gathered lm_head weight alive (#43909)"
FORK_RETURN = "        return lm_head_weight[: self.masked_embedding.vocab_size].detach()\n"


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.strip()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Acme Maintainer")
    git(path, "config", "user.email", "maintainer@acme.example")
    git(path, "config", "commit.gpgsign", "false")
    return path


def copy_files(release_root: Path, repo: Path, relpaths=FILES) -> None:
    for rel in relpaths:
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(release_root / rel, dest)


def commit_all(repo: Path, subject: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", subject)
    return git(repo, "rev-parse", "HEAD")


def fork_change(text: str) -> str:
    """0.22.1's gemma4_mtp.py with the fork's change to ``_get_full_lm_head_weight``."""
    original = "        return lm_head_weight[: self.masked_embedding.vocab_size]\n"
    assert text.count(original) == 1
    return text.replace(original, FORK_RETURN)


def build_fork_repo(path: Path, release) -> Path:
    repo = init_repo(path)
    old, new = release("0.22.1"), release("0.23.0")
    (repo / "README.md").write_text("Acme's vLLM fork\n")
    copy_files(old, repo)
    commit_all(repo, "vLLM 0.22.1")
    git(repo, "tag", "v0.22.1")

    git(repo, "switch", "-q", "-c", "acme/v0.22-prod")
    (repo / "vllm" / "acme_telemetry.py").write_text("ENDPOINT = 'https://telemetry.acme.example'\n")
    commit_all(repo, "acme: telemetry endpoint")
    git(repo, "tag", "v0.22.1+acme.3")
    (repo / "vllm" / "acme_telemetry.py").write_text("ENDPOINT = 'https://t.acme.example'\n")
    commit_all(repo, "acme: shorter telemetry endpoint")

    git(repo, "switch", "-q", "-c", "acme/v0.22-custom", "v0.22.1")
    mtp = repo / MTP
    mtp.write_text(fork_change(mtp.read_text()))
    commit_all(repo, "acme: detach the gathered lm_head weight")

    git(repo, "switch", "-q", "main")
    copy_files(new, repo, (MTP,))
    commit_all(repo, FIX_SUBJECT)
    copy_files(new, repo)
    commit_all(repo, "vLLM 0.23.0")
    git(repo, "tag", "v0.23.0")

    git(repo, "switch", "-q", "-c", "acme/v0.23-prod")
    copy_files(new, repo, ("vllm/_version.py",))
    commit_all(repo, "acme: commit the version file")

    git(repo, "switch", "-q", "main")
    (repo / "README.md").write_text("Acme's vLLM fork, work in progress\n")
    git(repo, "stash", "-q")
    (repo / "scratch.txt").write_text("not tracked\n")
    return repo


def snapshot(repo: Path) -> dict[str, object]:
    """Everything of a repository a backport must leave alone, or clean up after itself."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    return {
        "head": git(repo, "symbolic-ref", "-q", "HEAD", check=False),
        "head_sha": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "--stage"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "stash": git(repo, "stash", "list"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        # packed-refs is how git stores refs (compared above), rewritten when one is deleted
        "git_dir": sorted(p.name for p in git_dir.iterdir() if p.name != "packed-refs"),
    }


def trailers(repo: Path, rev: str) -> dict[str, str]:
    out = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)
    return dict(line.split(": ", 1) for line in out.splitlines() if line)
