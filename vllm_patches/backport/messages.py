"""What vllm-patches says about backports onto fork branches.

Each sentence is a small factory named for the situation, next to the code that says it."""

from __future__ import annotations


# Backport -----------------------------------------------------------------------
def backport_needs_git(exc: Exception) -> str:
    return (f"backport needs GitPython and the git command ({exc}); "
            "install git and pip install gitpython.")


def backport_not_a_repo(path: object) -> str:
    return f"{path} is not inside a git repository (give the fork checkout with --repo)."


def backport_dubious_owner(path: object, owner: str) -> str:
    return (f"git refuses to work in the repository at {path}: it is owned by {owner}, not by you "
            "(git's 'dubious ownership' check); if you trust it, run "
            f"git config --global --add safe.directory {path}, then try again.")


def backport_git_refuses(path: object, stderr: str) -> str:
    lines = stderr.strip().splitlines()
    detail = lines[0].removeprefix("fatal: ") if lines else "no message"
    return f"git cannot open the repository at {path} ({detail})."


def backport_config_unreadable(path: object, exc: Exception) -> str:
    return (f"git cannot read the configuration of the repository at {path} ({exc}), so backport "
            "cannot make sure none of its configured commands runs; fix the config first.")


def backport_unborn(path: object) -> str:
    return f"The repository at {path} has no commits yet; there is no branch to backport onto."


def backport_dirty(path: object) -> str:
    return (f"The checkout at {path} has uncommitted changes to tracked files; "
            "commit or stash them first (backport never touches them, but refuses to guess).")


def backport_no_identity() -> str:
    return ("git does not know who you are, so no commit can be made: "
            "set git config user.name and user.email.")


def backport_no_onto() -> str:
    return "Name at least one branch to backport onto with --onto BRANCH."


def backport_bad_strategy(strategy: str, known: tuple[str, ...]) -> str:
    return f"Unknown strategy '{strategy}'; use one of: {', '.join(known)}."


def backport_unknown_onto(name: str) -> str:
    return f"No branch, tag or commit '{name}' in this repository."


def backport_not_vllm(name: str) -> str:
    return f"Branch {name} is not a vLLM tree: it has no vllm/__init__.py at its root."


def backport_bad_branch_name(name: str) -> str:
    return (f"'{name}' is not a valid git branch name (see git check-ref-format); "
            "give another with --branch.")


def backport_branch_clash(name: str) -> str:
    return (f"Several backports would create the same branch '{name}'; "
            "use {patch} and {onto} in --branch.")


def backport_in_progress(path: object) -> str:
    return (f"A backport in {path} is waiting for you; finish it with "
            "vllm-patches backport --continue, or drop it with --abort.")


def backport_nothing_pending(path: object) -> str:
    return f"No backport is waiting in {path}; there is nothing to continue or abort."


def backport_state_untrusted(path: object, problem: object) -> str:
    return (f"The backport state file {path} cannot be trusted ({problem}); nothing was removed: "
            "check git worktree list, then remove the file.")


def backport_version_from_tag(tag: str, distance: int) -> str:
    if not distance:
        return f"tag {tag}"
    return f"tag {tag} + {distance} commit{'s' if distance != 1 else ''}"


def backport_no_version() -> str:
    return ("vLLM version unknown: judged by the code's shape alone; "
            "give --vllm-version to check the range")


def backport_already_applied(onto: str) -> str:
    return f"{onto} already holds the vllm-patches fix"


def backport_already_backported(branch: str) -> str:
    return f"branch {branch} already holds this backport; nothing new committed"


def backport_branch_exists(branch: str) -> str:
    return (f"branch {branch} exists but does not hold the fix; "
            "delete it or name another with --branch")


def backport_would_edit(why: str) -> str:
    return f"{why}; would write the fix with the source engine"


def backport_would_pick(sha: str) -> str:
    return f"would cherry-pick {sha[:12]} with -x"


def backport_created_by_edit(why: str) -> str:
    return f"{why}; fix written with the source engine"


def backport_created_by_pick(sha: str) -> str:
    return f"cherry-picked {sha[:12]} with -x"


def backport_not_upstream(patch_id: str) -> str:
    return (f"{patch_id} is not merged upstream, so there is no upstream commit to cherry-pick; "
            "use --strategy edit")


def backport_upstream_missing(pr: str) -> str:
    return (f"the upstream commit of {pr} is not in this repository (fetch upstream's branches, "
            "or use --strategy edit)")


def backport_upstream_on_branch(sha: str) -> str:
    return (f"upstream commit {sha[:12]} is already on this branch, "
            "yet its code lacks the fix (reverted?)")


def backport_pick_conflict(sha: str, files: list[str]) -> str:
    return f"cherry-picking {sha[:12]} conflicts in {', '.join(files)}"


def backport_pick_failed(sha: str, exc: Exception) -> str:
    detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
    return f"git cherry-pick {sha[:12]} failed: {detail[0] if detail else exc}"


def backport_pick_not_fix(sha: str, why: str) -> str:
    return (f"after cherry-picking {sha[:12]} the code still does not read as fixed ({why}); "
            "nothing kept")


def backport_git_failed(exc: Exception) -> str:
    detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
    return f"git failed: {detail[-1] if detail else exc}"


def backport_kept(why: str, worktree: object, patch_id: str) -> str:
    return (f"{why}. Left for you in {worktree}: make the change there by hand "
            f"(vllm-patches export {patch_id} --target {worktree} --force "
            "shows the engine's edit), "
            "then run vllm-patches backport --continue, or --abort to drop it")


def backport_worktree_unlisted(worktree: object) -> str:
    return f"git worktree list does not list the worktree just made at {worktree}"


def backport_not_listed(worktree: object) -> str:
    return f"{worktree} is not a worktree of this repository (git worktree list does not list it)"


def backport_main_worktree(worktree: object) -> str:
    return f"{worktree} is this repository's main worktree, not one a backport left"


def backport_elsewhere(worktree: object, points_at: str) -> str:
    return (f"{worktree} belongs to another repository (its .git points at {points_at}, "
            "not at this repository's record of it: a copy of the repository?)")


def backport_unmarked(worktree: object) -> str:
    return f"{worktree} was not left by this backport (no vllm-patches marker with its token)"


def backport_other_branch(worktree: object, checked_out: str, branch: str) -> str:
    return f"{worktree} has {checked_out} checked out, not the backport's branch {branch}"


def backport_abort_left_alone(why: str) -> str:
    return f"left alone: {why}; dropped from the backport state, nothing removed"


def backport_continue_refused(why: str) -> str:
    return f"{why}; nothing committed: run vllm-patches backport --abort to drop it"


def backport_worktree_gone(worktree: object) -> str:
    return f"the worktree {worktree} is gone; run vllm-patches backport --abort"


def backport_still_unmerged(files: list[str], worktree: object) -> str:
    return f"conflicts remain in {', '.join(files)} under {worktree}: resolve them and git add them"


def backport_not_fixed_yet(why: str, worktree: object) -> str:
    return (f"the code under {worktree} does not read as fixed yet ({why}); "
            "make the change, then --continue")


def backport_nothing_changed(worktree: object) -> str:
    return f"nothing was changed under {worktree}; make the change, then --continue"


def backport_continued() -> str:
    return "your change committed with the backport's message"


def backport_aborted(branch: str) -> str:
    return f"worktree and branch {branch} removed"
