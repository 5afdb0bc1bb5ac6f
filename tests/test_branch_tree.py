"""Reading a branch as a vLLM tree: its version by the documented rule, its files from git."""

from __future__ import annotations

import pytest
from packaging.version import Version

from tests.gitrepos import MTP, commit_all, copy_files, git, init_repo
from vllm_patches.backport.branch_tree import branch_tree, branch_version, version_of_tag
from vllm_patches.backport.gitrepo import RepoError, open_repo
from vllm_patches.core.detect import DetectError


@pytest.mark.parametrize("tag, version", [
    ("v0.22.1", "0.22.1"),
    ("0.22.1", "0.22.1"),
    ("v0.22.1+acme.3", "0.22.1+acme.3"),
    ("acme-v0.22.1-3", "0.22.1"),
    ("acme/v0.23.0rc1", "0.23.0rc1"),
    ("v0.22.1.post1", "0.22.1.post1"),
])
def test_a_tag_names_a_version_with_or_without_fork_decoration(tag, version):
    assert version_of_tag(tag) == Version(version)


def test_a_tag_without_a_version_names_none():
    assert version_of_tag("release-candidate") is None


@pytest.fixture
def repo(tmp_path, release):
    path = init_repo(tmp_path / "fork")
    copy_files(release("0.22.1"), path)
    commit_all(path, "vLLM 0.22.1")
    return path


def test_the_nearest_version_tag_wins_and_later_commits_keep_its_version(repo):
    git(repo, "tag", "acme-v0.22.1-3")
    git(repo, "tag", "nightly")  # no version in it: passed over
    (repo / "vllm" / "acme.py").write_text("X = 1\n")
    tip = commit_all(repo, "acme: one more commit")
    assert branch_version(open_repo(repo), tip) == (Version("0.22.1"),
                                                     "tag acme-v0.22.1-3 + 1 commit")


def test_a_committed_version_file_wins_over_tags_and_the_override_over_both(repo, release):
    git(repo, "tag", "v0.22.0")
    copy_files(release("0.22.1"), repo, ("vllm/_version.py",))
    tip = commit_all(repo, "commit the version file")
    opened = open_repo(repo)
    assert branch_version(opened, tip) == (Version("0.22.1"), "vllm/_version.py")
    assert branch_version(opened, tip, "0.21.0") == (Version("0.21.0"), "--vllm-version")
    with pytest.raises(DetectError):
        branch_version(opened, tip, "not a version")


def test_no_tag_and_no_file_means_unknown(repo):
    assert branch_version(open_repo(repo), git(repo, "rev-parse", "HEAD")) == (None, "unknown")


def test_modules_are_read_from_the_commit_not_the_checkout(repo, release):
    sha = git(repo, "rev-parse", "HEAD")
    (repo / MTP).write_text("# edited in the checkout only\n")
    tree = branch_tree(open_repo(repo), "main", sha)
    assert tree.read_module("vllm.model_executor.models.gemma4_mtp") == \
        (release("0.22.1") / MTP).read_text()
    assert tree.read_module("vllm.no_such_module") is None


def test_a_commit_without_vllm_is_refused(repo):
    empty = git(repo, "commit-tree", "-m", "empty",
                git(repo, "hash-object", "-t", "tree", "-w", "/dev/null"))
    with pytest.raises(RepoError, match="not a vLLM tree"):
        branch_tree(open_repo(repo), "empty", empty)
