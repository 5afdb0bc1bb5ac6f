"""The git operations of ``backport``, through GitPython.

Opening and checking the caller's repository, reading files of any commit
without checking it out, and temporary worktrees (``git worktree add``) in
which commits are made, so that the caller's checkout, HEAD, index and stash
are never touched. Every command runs in ``gitenv``'s environment: none of the
repository's configured commands (hooks, fsmonitor, filters, merge drivers,
signing) run. The commits are made by a tool, for review, and a fork's
pre-commit hooks run in its review or CI as for any other commit.

GitPython is imported here only, and only ``backport`` imports this module.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from vllm_patches.backport import gitenv, messages
from vllm_patches.core.errors import VllmPatchesError


class RepoError(VllmPatchesError):
    """The repository cannot be worked on (bad input): one sentence, nothing changed."""


def _git():
    try:
        import git
    except ImportError as exc:  # GitPython missing, or no git executable found
        raise RepoError(messages.backport_needs_git(exc)) from None
    return git


def git_errors() -> tuple[type[Exception], ...]:
    """The exceptions a failing git command raises."""
    return (_git().GitCommandError,)


@functools.cache
def _safe_classes():
    """GitPython's ``Git`` and ``Repo`` whose every command runs in ``gitenv``'s environment
    (the object database's ``cat-file`` processes included)."""
    git = _git()

    class SafeGit(git.Git):
        def execute(self, command, **kwargs):
            kwargs["env"] = {**(kwargs.get("env") or {}), **_environment(self._working_dir)}
            return super().execute(command, **kwargs)

    class SafeRepo(git.Repo):
        GitCommandWrapperType = SafeGit

    return SafeGit, SafeRepo


def _environment(cwd) -> dict[str, str]:
    return _refusing(gitenv.environment, cwd)


def run_git(args: list[str], cwd) -> tuple[int, str, str]:
    """``git ARGS`` in ``cwd``, started by backport itself: ``(status, stdout, stderr)``."""
    proc = _refusing(lambda where: gitenv.run(args, where), cwd)
    return proc.returncode, os.fsdecode(proc.stdout), os.fsdecode(proc.stderr)


def _refusing(call, cwd):
    """``call(cwd)``, its failures to make git safe to run as RepoError (one sentence)."""
    try:
        return call(cwd)
    except gitenv.ConfigUnreadable as exc:
        raise RepoError(messages.backport_config_unreadable(cwd, exc)) from None
    except OSError as exc:  # no git executable
        raise RepoError(messages.backport_needs_git(exc)) from None


def open_repo(path: str | Path):
    """The repository at (or above) ``path``; refuses one git refuses, or without commits."""
    git = _git()
    _check_git_accepts(path)
    try:
        repo = _safe_classes()[1](path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RepoError(messages.backport_not_a_repo(path)) from None
    if not repo.head.is_valid():
        raise RepoError(messages.backport_unborn(repo.working_tree_dir or repo.git_dir))
    return repo


def _check_git_accepts(path: str | Path) -> None:
    """Refuse a folder that is not in a repository, or whose repository git will not work in
    (its owner is another user: git's "dubious ownership" check, ``safe.directory``)."""
    if not os.path.isdir(path):
        raise RepoError(messages.backport_not_a_repo(path))
    status, _, err = run_git(["rev-parse", "--absolute-git-dir"], path)
    if status == 0:
        return
    if "dubious ownership" in err:
        where = _quoted(err) or os.path.abspath(path)
        raise RepoError(messages.backport_dubious_owner(where, _owner(where)))
    if "not a git repository" in err:
        raise RepoError(messages.backport_not_a_repo(path))
    raise RepoError(messages.backport_git_refuses(path, err))


def _quoted(text: str) -> str | None:
    """The first '...'-quoted part of git's message (the repository it names)."""
    parts = text.split("'")
    return parts[1] if len(parts) > 2 else None


def _owner(path: str) -> str:
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return "another user"
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def require_clean(repo) -> None:
    """Refuse uncommitted changes to tracked files (untracked files do not count)."""
    if not repo.bare and repo.is_dirty(index=True, working_tree=True, untracked_files=False):
        raise RepoError(messages.backport_dirty(repo.working_tree_dir))


def require_identity(repo) -> None:
    """Refuse early when git does not know who commits."""
    try:
        repo.git.var("GIT_COMMITTER_IDENT")
        repo.git.var("GIT_AUTHOR_IDENT")
    except git_errors():
        raise RepoError(messages.backport_no_identity()) from None


def common_dir(repo) -> Path:
    """The git dir shared by all worktrees of the repository."""
    return Path(repo.common_dir)


def resolve(repo, rev: str) -> str | None:
    """The commit sha that ``rev`` names, or None."""
    if not rev or rev.startswith("-"):
        return None
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
    except git_errors():
        return None


def read_blob(repo, sha: str, relpath: str) -> bytes | None:
    """The bytes of ``relpath`` in commit ``sha``, or None when absent."""
    try:
        blob = repo.commit(sha).tree / relpath
    except KeyError:
        return None
    if blob.type != "blob":
        return None
    return blob.data_stream.read()


def read_file(repo, sha: str, relpath: str) -> str | None:
    """The text of the Python file ``relpath`` in commit ``sha`` (``sourcefile``: its
    declared encoding, line endings kept), or None when absent."""
    from vllm_patches.core.sourcefile import decode_source

    data = read_blob(repo, sha, relpath)
    return None if data is None else decode_source(data, f"{relpath} at {sha[:12]}").text


def describe(repo, sha: str) -> tuple[str, int] | None:
    """The nearest tag that looks like a version, and how many commits lie past it."""
    try:
        out = repo.git.describe("--tags", "--long", "--match", "*[0-9].[0-9]*", sha)
    except git_errors():
        return None
    tag, distance, _ = out.rsplit("-", 2)
    return tag, int(distance)


def branch_sha(repo, name: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{name}")
    except git_errors():
        return None


def valid_branch_name(repo, name: str) -> bool:
    try:
        repo.git.check_ref_format("--branch", name)
    except git_errors():
        return False
    return True


def is_ancestor(repo, ancestor: str, descendant: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", ancestor, descendant)
    except git_errors():
        return False
    return True


def create_branch(repo, name: str, sha: str) -> None:
    repo.git.branch(name, sha)


def delete_branch(repo, name: str) -> None:
    if branch_sha(repo, name) is not None:
        repo.git.branch("-D", name)


def commits_with_subject_ending(repo, ending: str, not_on: str) -> list[tuple[str, str]]:
    """``(sha, message)`` of commits on any branch, tag or remote-tracking branch, not
    reachable from ``not_on``, whose subject ends with ``ending``; oldest first."""
    out = repo.git.log(
        "--branches", "--tags", "--remotes", f"^{not_on}", "--fixed-strings",
        f"--grep={ending}", "--reverse", "--date-order", "--format=%H%x00%B%x1e",
    )
    found = []
    for record in out.split("\x1e"):
        sha, _, message = record.strip("\n").partition("\x00")
        if sha and message.split("\n", 1)[0].rstrip().endswith(ending):
            found.append((sha, message))
    return found


def message_of(repo, sha: str) -> str:
    return repo.git.log("-1", "--format=%B", sha)


FOLDER_PREFIX = "vllm-patches-backport-"  # the temporary folder that holds a worktree
TREE = "tree"  # the worktree itself, inside that folder


def worktree_list(repo) -> list[dict[str, str]]:
    """``git worktree list --porcelain -z`` of ``repo``: one dict per worktree, the main
    one first (``worktree``: its path as git records it, ``branch``, ``HEAD``, ...)."""
    records, current = [], {}
    for field in repo.git.worktree("list", "--porcelain", "-z").split("\0"):
        if not field:
            if current:
                records.append(current)
            current = {}
            continue
        key, _, value = field.partition(" ")
        current[key] = value
    if current:
        records.append(current)
    return records


class Worktree:
    """A worktree of ``repo`` at ``path`` (``<folder>/tree``), for backport's commits.

    ``new`` makes one in a fresh temporary folder with a commit checked out
    (detached); ``existing`` is one left to the user, once ``worktrees.claim``
    proved it ours. ``remove()`` removes it through git; ``attach`` puts it on
    a new branch, for a worktree left to the user.
    """

    def __init__(self, repo, path: Path, made: bool = False) -> None:
        self.repo = repo
        self.path = Path(path)
        self.folder = self.path.parent
        self.made = made  # made by this run: its folder may be removed outright
        self.git = _safe_classes()[0](str(self.path))

    @classmethod
    def new(cls, repo, sha: str) -> Worktree:
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        path = folder / TREE
        try:
            repo.git.worktree("add", "--detach", str(path), sha)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(repo, path, made=True)

    @classmethod
    def existing(cls, repo, path: str | Path) -> Worktree:
        return cls(repo, Path(path))

    def listed_path(self) -> str:
        """This worktree's path as ``git worktree list`` records it."""
        here = os.path.realpath(self.path)
        for record in worktree_list(self.repo)[1:]:
            if os.path.realpath(record.get("worktree", "")) == here:
                return record["worktree"]
        raise RepoError(messages.backport_worktree_unlisted(self.path))

    def attach(self, branch: str) -> None:
        """Create ``branch`` at this worktree's HEAD and check it out here."""
        head = self.git.rev_parse("HEAD")
        create_branch(self.repo, branch, head)
        self.git.symbolic_ref("HEAD", f"refs/heads/{branch}")

    def read(self, relpath: str) -> bytes | None:
        try:
            return (self.path / relpath).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, relpath: str, data: bytes) -> None:
        (self.path / relpath).write_bytes(data)

    def head(self) -> str:
        return self.git.rev_parse("HEAD")

    def unmerged(self) -> list[str]:
        out = self.git.diff(*gitenv.DIFF_SAFE, "--name-only", "--diff-filter=U")
        return [p for p in out.splitlines() if p]

    def stage_tracked(self) -> bool:
        """Stage every change to tracked files; True when something is staged."""
        self.git.add("-u")
        try:
            self.git.diff(*gitenv.DIFF_SAFE, "--cached", "--quiet")
        except git_errors():
            return True
        return False

    def commit(self, message: str, amend: bool = False) -> str:
        args = ["--no-verify", "--no-gpg-sign", "--cleanup=whitespace", "-m", message]
        if amend:
            args.insert(0, "--amend")
        self.git.commit(*args)
        return self.head()

    def remove(self) -> None:
        """Remove the worktree through git (``git worktree remove``: its files and git's
        record of it), then its folder when that is left empty. A worktree this run made
        is removed even when git cannot remove it; the repository is left as it was."""
        try:
            remove_worktree(self.repo, str(self.path))
        except git_errors():
            if not self.made:
                raise
            shutil.rmtree(self.folder, ignore_errors=True)
            try:
                remove_worktree(self.repo, str(self.path))  # git's record, the folder gone
            except git_errors():
                pass
        _remove_empty(self.folder)


def remove_worktree(repo, listed: str) -> None:
    """``git worktree remove --force --force`` the worktree git lists at ``listed`` (also
    when its folder is gone: then git's record of it alone is removed)."""
    repo.git.worktree("remove", "--force", "--force", listed)


def _remove_empty(folder: Path) -> None:
    if folder.name.startswith(FOLDER_PREFIX):
        try:
            folder.rmdir()
        except OSError:
            pass
