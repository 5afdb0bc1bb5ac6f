"""The worktrees a backport leaves to the user (``--keep-conflicts``): marked, and found again.

The state file says which worktree each kept backport left, but the state
file is only a file in the git dir: a copy of the repository (``cp -a``)
holds the original's, and anyone can write one. So ``--continue`` and
``--abort`` touch a worktree only when ``claim`` finds it is this
backport's own:

1. ``git worktree list`` of this repository lists that exact path, and not as
   its main worktree;
2. this repository's git dir holds git's record of it (``worktrees/<id>``),
   and the worktree's ``.git`` file, when the folder still exists, points
   back to that record, not to another repository's (a copy's record points
   at the original's worktree);
3. that record holds the marker ``mark`` left there when the worktree was
   kept, with the state's token;
4. it has the backport's branch checked out.

Anything else is left alone, and said so. A worktree found ours is removed
with ``git worktree remove``, never by deleting a path named in the state.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vllm_patches.backport import gitrepo, messages
from vllm_patches.core.files import read_untrusted, write_atomic

MARKER = "vllm-patches-backport"  # in git's record of the worktree, beside its HEAD
_SMALL = 4096  # a marker, a gitdir file, a .git file


class Standing(Enum):
    """What a kept backport's worktree is to this repository."""

    OURS = "ours"
    GONE = "gone"  # ours, but its folder was removed by hand (git still records it)
    NOT_LISTED = "not-listed"
    MAIN = "main"
    ELSEWHERE = "elsewhere"  # its .git points at another repository's record
    UNMARKED = "unmarked"  # no marker with this backport's token
    OTHER_BRANCH = "other-branch"


@dataclass(frozen=True)
class Claim:
    standing: Standing
    path: str  # as the state names it (git lists this exact path when it is ours)
    branch: str  # the backport's, as the state names it
    detail: str = ""  # what its .git points at, or what it has checked out, when not ours

    @property
    def ours(self) -> bool:
        return self.standing in (Standing.OURS, Standing.GONE)

    def refusal(self) -> str:
        """Why the worktree is not the backport's, as part of a sentence."""
        return _REFUSALS[self.standing](self)


_REFUSALS = {
    Standing.NOT_LISTED: lambda c: messages.backport_not_listed(c.path),
    Standing.MAIN: lambda c: messages.backport_main_worktree(c.path),
    Standing.ELSEWHERE: lambda c: messages.backport_elsewhere(c.path, c.detail),
    Standing.UNMARKED: lambda c: messages.backport_unmarked(c.path),
    Standing.OTHER_BRANCH: lambda c: messages.backport_other_branch(c.path, c.detail, c.branch),
    Standing.GONE: lambda c: messages.backport_worktree_gone(c.path),
}


def new_token() -> str:
    return secrets.token_hex(16)


def mark(worktree: gitrepo.Worktree, token: str) -> str:
    """Leave the marker with ``token`` in git's record of ``worktree``; its listed path."""
    listed = worktree.listed_path()
    record = _record_of(gitrepo.common_dir(worktree.repo), listed)
    if record is None:
        raise gitrepo.RepoError(messages.backport_worktree_unlisted(listed))
    write_atomic(record / MARKER, token + "\n", mode=0o600)
    return listed


def claim(repo, path: str, token: str, branch: str) -> Claim:
    """Whether the worktree at ``path`` is the one this backport (``token``, ``branch``) left."""
    def says(standing: Standing, detail: str = "") -> Claim:
        return Claim(standing, path, branch, detail)

    listed = gitrepo.worktree_list(repo)
    if listed and listed[0].get("worktree") == path:
        return says(Standing.MAIN)
    entry = next((r for r in listed[1:] if r.get("worktree") == path), None)
    record = None if entry is None else _record_of(gitrepo.common_dir(repo), path)
    if record is None:
        return says(Standing.NOT_LISTED)
    gone = not os.path.lexists(path)
    if not gone:
        points_at = _points_at(Path(path))
        if points_at is None or os.path.realpath(points_at) != os.path.realpath(record):
            return says(Standing.ELSEWHERE, points_at or "nothing: it has no .git file")
    if _marker(record) != token:
        return says(Standing.UNMARKED)
    checked_out = entry.get("branch", "a detached HEAD")
    if checked_out != f"refs/heads/{branch}":
        return says(Standing.OTHER_BRANCH, checked_out.removeprefix("refs/heads/"))
    return says(Standing.GONE if gone else Standing.OURS)


def _record_of(common_dir: Path, path: str) -> Path | None:
    """git's record of the worktree at ``path`` (``<common dir>/worktrees/<id>``), or None."""
    want = os.path.normpath(os.path.join(path, ".git"))
    try:
        entries = list(os.scandir(common_dir / "worktrees"))
    except OSError:
        return None
    found = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        gitdir = _small_text(Path(entry.path) / "gitdir")
        if gitdir is not None:
            target = os.path.normpath(os.path.join(entry.path, gitdir.strip("\n")))
            if target == want:
                found.append(Path(entry.path))
    return found[0] if len(found) == 1 else None


def _points_at(path: Path) -> str | None:
    """The git dir a worktree's ``.git`` file names (absolute), or None when it has none."""
    if os.path.islink(path):
        return None
    text = _small_text(path / ".git")
    if text is None or not text.startswith("gitdir: "):
        return None
    return os.path.normpath(os.path.join(path, text[len("gitdir: "):].strip("\n")))


def _marker(record: Path) -> str | None:
    text = _small_text(record / MARKER)
    return None if text is None else text.strip()


def _small_text(path: Path) -> str | None:
    """A small plain file's text (``read_untrusted``), None when it is absent or not one."""
    try:
        return os.fsdecode(read_untrusted(path, limit=_SMALL))
    except OSError:
        return None
