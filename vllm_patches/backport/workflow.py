"""Backport catalogued fixes onto fork branches, one reviewable commit each.

``backport`` works in steps: open the repository and check it (a clean
checkout with commits, no backport left pending); read each ``--onto``
branch as a vLLM tree (its files and version, see ``branch_tree``) and
judge each patch there as ``status`` does; then, for each pair that needs
the fix, make a temporary worktree at the branch's tip, write the fix there
(strategy ``edit``: the source engine) or ``git cherry-pick -x`` its upstream
commit (strategy ``cherry-pick``), commit, create the new branch at that
commit and remove the worktree. The caller's checkout, HEAD, index and stash
are never touched, and a refused or conflicting pair leaves no branch, no
worktree and no state behind, unless ``keep_conflicts``: then its worktree
is left on the new branch, marked and recorded in the state file, for
``resume`` (``--continue``) or ``abort`` (``--abort``), which touch it only
when ``worktrees.claim`` finds it is this repository's and this backport's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from vllm_patches.backport import messages

from vllm_patches.core import commit_message

from vllm_patches.backport import gitrepo, worktrees
from vllm_patches.backport.state import CHERRY_PICK, EDIT, STRATEGIES, Pending
from vllm_patches.backport.state import load as load_state
from vllm_patches.backport.state import save as save_state
from vllm_patches.backport.branch_tree import BranchTree, branch_tree
from vllm_patches.core.catalog import Patch, get_patch, select
from vllm_patches.core.detect import DetectError, find_vllm
from vllm_patches.source.edit import EditError, patch_text
from vllm_patches.core.words import Outcome
from vllm_patches.core.sourcefile import SourceText, SourceTextError, decode_source
from vllm_patches.core.state import (APPLICABLE, APPLIED, FIXED, FIXED_UPSTREAM, NOT_APPLICABLE, PATCHED,
                    TARGET_MODIFIED, PatchStatus, classify_install, patch_status)

DEFAULT_BRANCH = "backport/{patch}/{onto}"

# The outcomes (one per branch and patch) that leave the user something to do.
NEEDS_ATTENTION = (Outcome.BLOCKED, Outcome.KEPT, Outcome.LEFT_ALONE)
# Those whose reason says the branch has no version, and those that name their branch.
_SAYS_VERSION = (Outcome.BLOCKED, Outcome.WOULD_CREATE, Outcome.CREATED, Outcome.NOT_APPLICABLE)
_NAMES_BRANCH = (Outcome.CREATED, Outcome.WOULD_CREATE, Outcome.KEPT)

BackportError = gitrepo.RepoError


@dataclass(frozen=True)
class Result:
    """What ``backport`` (or ``--continue`` / ``--abort``) did to one patch on one branch."""

    onto: str
    patch: str
    outcome: Outcome
    reason: str
    vllm_version: str | None = None
    version_from: str = "unknown"
    branch: str | None = None
    sha: str | None = None
    worktree: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome not in NEEDS_ATTENTION

    def to_dict(self) -> dict[str, object]:
        return {
            "onto": self.onto, "patch": self.patch, "outcome": str(self.outcome),
            "branch": self.branch, "sha": self.sha, "reason": self.reason,
            "vllm_version": self.vllm_version, "version_from": self.version_from,
            "worktree": self.worktree,
        }


@dataclass(frozen=True)
class _Step:
    """One patch for one branch, as planned before anything is written."""

    tree: BranchTree
    patch: Patch
    status: PatchStatus
    branch: str

    @property
    def onto(self) -> str:
        return str(self.tree.location)

    @property
    def needs_fix(self) -> bool:
        return self.status.state in (APPLICABLE, TARGET_MODIFIED)

    def result(self, outcome: Outcome, reason: str, **extra) -> Result:
        version = self.tree.version
        if version is None and outcome in _SAYS_VERSION:
            reason = f"{reason} ({messages.backport_no_version()})"
        fields = {"branch": self.branch if outcome in _NAMES_BRANCH else None}
        fields.update(extra)
        return Result(self.onto, self.patch.id, outcome, reason,
                      str(version) if version is not None else None, self.tree.version_from,
                      **fields)

    def message(self) -> str:
        return commit_message.message(self.patch, self.onto, self.tree.version)


# The verbs -------------------------------------------------------------------
def backport(
    repo_path: str | Path,
    onto: list[str] | tuple[str, ...],
    ids: list[str] | tuple[str, ...] | None = None,
    *,
    branch: str | None = None,
    strategy: str = EDIT,
    dry_run: bool = False,
    force: bool = False,
    keep_conflicts: bool = False,
    vllm_version: str | None = None,
) -> list[Result]:
    """Put each selected fix on each ``onto`` branch as a commit on a new branch.

    Raises BackportError (nothing changed) for bad input: not a repository,
    no commits, uncommitted changes, a backport left pending, an unknown
    branch, a branch without vLLM, a bad or clashing new branch name.
    """
    if strategy not in STRATEGIES:
        raise BackportError(messages.backport_bad_strategy(strategy, STRATEGIES))
    if not onto:
        raise BackportError(messages.backport_no_onto())
    patches = select(ids)
    repo = _open_for_backport(repo_path, dry_run)
    steps = _plan(repo, onto, patches, branch or DEFAULT_BRANCH, vllm_version)
    results: list[Result] = []
    kept: list[Pending] = []
    for step in steps:
        result, pending = _carry_out(repo, step, strategy, dry_run, force, keep_conflicts)
        if pending is not None:
            kept.append(pending)
            save_state(gitrepo.common_dir(repo), kept)
        results.append(result)
    return results


def resume(repo_path: str | Path) -> list[Result]:
    """``--continue``: commit what the user did in each kept worktree, then clean up."""
    repo, pending = _open_pending(repo_path)
    gitrepo.require_identity(repo)
    results, still = [], []
    for item in pending:
        try:
            result = _finish(repo, item)
        except gitrepo.git_errors() as exc:
            result = Result(item.onto, item.patch, Outcome.KEPT, messages.backport_git_failed(exc),
                            item.vllm_version, item.version_from, branch=item.branch,
                            worktree=item.worktree)
        if result.outcome == Outcome.KEPT:
            still.append(item)
        results.append(result)
    save_state(gitrepo.common_dir(repo), still)
    return results


def abort(repo_path: str | Path) -> list[Result]:
    """``--abort``: remove each kept worktree that is this backport's, and its new branch.

    A worktree the state names that ``worktrees.claim`` does not find ours is left
    alone (and dropped from the state); one git fails to remove stays in the state.
    """
    repo, pending = _open_pending(repo_path)
    results, still = [], []
    for item in pending:
        result = _drop(repo, item)
        if result.outcome == Outcome.BLOCKED:
            still.append(item)
        results.append(result)
    save_state(gitrepo.common_dir(repo), still)
    return results


def _drop(repo, item: Pending) -> Result:
    def result(outcome, reason):
        return Result(item.onto, item.patch, outcome, reason, item.vllm_version,
                      item.version_from, worktree=item.worktree)

    found = worktrees.claim(repo, item.worktree, item.token, item.branch)
    if not found.ours:
        return result(Outcome.LEFT_ALONE, messages.backport_abort_left_alone(found.refusal()))
    try:
        gitrepo.Worktree.existing(repo, found.path).remove()
        gitrepo.delete_branch(repo, item.branch)
    except gitrepo.git_errors() as exc:
        return result(Outcome.BLOCKED, messages.backport_git_failed(exc))
    return result(Outcome.ABORTED, messages.backport_aborted(item.branch))


# Opening and checking ----------------------------------------------------------
def _open_for_backport(repo_path, dry_run: bool):
    repo = gitrepo.open_repo(repo_path)
    if load_state(gitrepo.common_dir(repo)):
        raise BackportError(messages.backport_in_progress(repo.working_tree_dir or repo.git_dir))
    gitrepo.require_clean(repo)
    if not dry_run:
        gitrepo.require_identity(repo)
    return repo


def _open_pending(repo_path):
    repo = gitrepo.open_repo(repo_path)
    pending = load_state(gitrepo.common_dir(repo))
    if not pending:
        raise BackportError(messages.backport_nothing_pending(repo.working_tree_dir or repo.git_dir))
    return repo, pending


# Planning (reads only) ----------------------------------------------------------
def _plan(repo, onto, patches, template: str, vllm_version: str | None) -> list[_Step]:
    steps = []
    for name in dict.fromkeys(onto):
        sha = gitrepo.resolve(repo, name)
        if sha is None:
            raise BackportError(messages.backport_unknown_onto(name))
        tree = branch_tree(repo, name, sha, vllm_version)
        for patch in patches:
            new = _branch_name(template, patch.id, name)
            if not gitrepo.valid_branch_name(repo, new):
                raise BackportError(messages.backport_bad_branch_name(new))
            steps.append(_Step(tree, patch, patch_status(patch, tree), new))
    names = [s.branch for s in steps if s.needs_fix]
    for name in names:
        if names.count(name) > 1:
            raise BackportError(messages.backport_branch_clash(name))
    return steps


def _branch_name(template: str, patch_id: str, onto: str) -> str:
    return template.replace("{patch}", patch_id).replace("{onto}", onto)


def _settled(repo, step: _Step) -> Result | None:
    """The outcome of a step that needs no new commit; None when it does."""
    state = step.status.state
    if state == APPLIED:
        return step.result(Outcome.ALREADY_APPLIED, messages.backport_already_applied(step.onto))
    if state == FIXED_UPSTREAM:
        return step.result(Outcome.ALREADY_FIXED, step.status.reason)
    if state == NOT_APPLICABLE:
        return step.result(Outcome.NOT_APPLICABLE, step.status.reason)
    existing = gitrepo.branch_sha(repo, step.branch)
    if existing is None:
        return None
    if gitrepo.is_ancestor(repo, step.tree.sha, existing) and _holds_fix(repo, step, existing):
        return step.result(Outcome.ALREADY_BACKPORTED,
                           messages.backport_already_backported(step.branch),
                           branch=step.branch, sha=existing)
    return step.result(Outcome.BLOCKED, messages.backport_branch_exists(step.branch))


def _holds_fix(repo, step: _Step, sha: str) -> bool:
    tree = replace(step.tree, sha=sha)
    return classify_install(step.patch, tree).kind in (PATCHED, FIXED)


def _edited_texts(step: _Step, read, force: bool) -> dict[str, bytes]:
    """The fixed bytes of each target module, in its own encoding (``read(relpath)``: its
    bytes, None when absent); EditError when the engine refuses."""
    sources: dict[str, SourceText] = {}
    texts: dict[str, str | None] = {}
    for t in step.patch.targets:
        if t.relpath not in texts:
            data = read(t.relpath)
            try:
                where = f"{t.relpath} on {step.onto}"
                source = None if data is None else decode_source(data, where)
            except SourceTextError as exc:
                raise EditError(str(exc)) from None
            sources[t.relpath] = source
            texts[t.relpath] = None if source is None else source.text
        texts[t.relpath] = patch_text(step.patch, t, texts[t.relpath], force=force)
    try:
        return {rel: sources[rel].encode(text) for rel, text in texts.items()}
    except SourceTextError as exc:
        raise EditError(str(exc)) from None


def upstream_commit(repo, patch: Patch, onto_sha: str) -> str:
    """The upstream commit of ``patch``'s fix in this repository, not yet on ``onto_sha``.

    The catalogue's ``upstream-commit`` when this repository has it, else the
    oldest commit on a branch, tag or remote whose subject ends with the PR
    number as squash merges write it (``... (#43909)``), leaving out
    cherry-picks and our own backports. Raises _Blocked when there is none.
    """
    if patch.applied_upstream is None:
        raise _Blocked(messages.backport_not_upstream(patch.id))
    if patch.upstream_commit:
        sha = gitrepo.resolve(repo, patch.upstream_commit)
        if sha is not None:
            if gitrepo.is_ancestor(repo, sha, onto_sha):
                raise _Blocked(messages.backport_upstream_on_branch(sha))
            return sha
    number = re.search(r"#(\d+)$", patch.upstream_pr)
    if number is None:
        raise _Blocked(messages.backport_upstream_missing(patch.upstream_pr))
    candidates = [
        (sha, message)
        for sha, message in gitrepo.commits_with_subject_ending(repo, f"(#{number.group(1)})",
                                                                onto_sha)
        if "(cherry picked from commit " not in message and "\nPatch-id: " not in message
    ]
    if not candidates:
        raise _Blocked(messages.backport_upstream_missing(patch.upstream_pr))
    return candidates[0][0]


class _Blocked(Exception):
    """This step cannot be carried out; the message says why."""


# Carrying out -------------------------------------------------------------------
_Done = tuple[Result, "Pending | None"]  # a result, and what to record when it is kept


def _carry_out(repo, step: _Step, strategy: str, dry_run: bool, force: bool,
               keep: bool) -> _Done:
    settled = _settled(repo, step)
    if settled is not None:
        return settled, None
    try:
        if strategy == CHERRY_PICK:
            pick = upstream_commit(repo, step.patch, step.tree.sha)
            if dry_run:
                return step.result(Outcome.WOULD_CREATE, messages.backport_would_pick(pick)), None
            return _by_cherry_pick(repo, step, pick, keep)
        try:
            _edited_texts(step, step.tree.module_bytes, force)
        except EditError as exc:
            if dry_run or not keep:
                raise _Blocked(str(exc)) from None
        if dry_run:
            why = messages.backport_would_edit(step.status.reason)
            return step.result(Outcome.WOULD_CREATE, why), None
        return _by_edit(repo, step, force, keep)
    except _Blocked as exc:
        return step.result(Outcome.BLOCKED, str(exc)), None
    except gitrepo.git_errors() as exc:
        return step.result(Outcome.BLOCKED, messages.backport_git_failed(exc)), None


def _by_edit(repo, step: _Step, force: bool, keep: bool) -> _Done:
    worktree = gitrepo.Worktree.new(repo, step.tree.sha)
    kept = False
    try:
        try:
            texts = _edited_texts(step, worktree.read, force)
        except EditError as exc:
            if not keep:
                raise _Blocked(str(exc)) from None
            done = _kept(step, worktree, str(exc), step.message())
            kept = True
            return done
        for relpath, text in texts.items():
            worktree.write(relpath, text)
        worktree.git.add("--", *texts)
        sha = worktree.commit(step.message())
        gitrepo.create_branch(repo, step.branch, sha)
        reason = messages.backport_created_by_edit(step.status.reason)
        return step.result(Outcome.CREATED, reason, sha=sha), None
    finally:
        if not kept:
            worktree.remove()


def _by_cherry_pick(repo, step: _Step, pick: str, keep: bool) -> _Done:
    worktree = gitrepo.Worktree.new(repo, step.tree.sha)
    kept = False
    try:
        try:
            worktree.git.cherry_pick("-x", pick)
        except gitrepo.git_errors() as exc:
            conflicted = worktree.unmerged()
            if not conflicted:
                raise _Blocked(messages.backport_pick_failed(pick, exc)) from None
            reason = messages.backport_pick_conflict(pick, conflicted)
            if not keep:
                raise _Blocked(reason) from None
            original = gitrepo.message_of(repo, pick).rstrip("\n")
            message = f"{original}\n\n(cherry picked from commit {pick})"
            done = _kept(step, worktree, reason,
                         commit_message.with_trailers(message, step.patch), pick)
            kept = True
            return done
        shape = _worktree_shape(worktree, step.patch)
        if shape.kind not in (PATCHED, FIXED):
            raise _Blocked(messages.backport_pick_not_fix(pick, shape.detail or shape.kind))
        message = gitrepo.message_of(repo, worktree.head())
        sha = worktree.commit(commit_message.with_trailers(message, step.patch), amend=True)
        gitrepo.create_branch(repo, step.branch, sha)
        return step.result(Outcome.CREATED, messages.backport_created_by_pick(pick), sha=sha), None
    finally:
        if not kept:
            worktree.remove()


def _worktree_shape(worktree: gitrepo.Worktree, patch: Patch):
    try:
        install = find_vllm(target=worktree.path, version="0")
    except DetectError as exc:
        raise _Blocked(str(exc)) from None
    return classify_install(patch, install)


def _kept(step: _Step, worktree: gitrepo.Worktree, why: str, message: str,
          pick: str | None = None) -> _Done:
    """Leave ``worktree`` to the user on the new branch, marked: the result, and its record
    for the state file."""
    worktree.attach(step.branch)
    token = worktrees.new_token()
    listed = worktrees.mark(worktree, token)
    result = step.result(Outcome.KEPT, messages.backport_kept(why, listed, step.patch.id),
                         worktree=listed)
    pending = Pending(onto=step.onto, onto_sha=step.tree.sha, patch=step.patch.id,
                      branch=step.branch, worktree=listed, token=token,
                      strategy=CHERRY_PICK if pick else EDIT, message=message,
                      vllm_version=result.vllm_version, version_from=result.version_from,
                      upstream_commit=pick)
    return result, pending


def _finish(repo, item: Pending) -> Result:
    """Commit one kept worktree's change if it now reads as fixed; else keep it."""
    patch = get_patch(item.patch)

    def result(outcome, reason, **extra):
        return Result(item.onto, item.patch, outcome, reason, item.vllm_version,
                      item.version_from, branch=item.branch, **extra)

    found = worktrees.claim(repo, item.worktree, item.token, item.branch)
    if found.standing is worktrees.Standing.GONE:
        return result(Outcome.KEPT, found.refusal(), worktree=item.worktree)
    if not found.ours:
        return result(Outcome.KEPT, messages.backport_continue_refused(found.refusal()),
                      worktree=item.worktree)
    worktree = gitrepo.Worktree.existing(repo, found.path)
    unmerged = worktree.unmerged()
    if unmerged:
        return result(Outcome.KEPT, messages.backport_still_unmerged(unmerged, worktree.path),
                      worktree=item.worktree)
    try:
        shape = _worktree_shape(worktree, patch)
    except _Blocked as exc:
        return result(Outcome.KEPT, str(exc), worktree=item.worktree)
    if shape.kind not in (PATCHED, FIXED):
        return result(Outcome.KEPT, messages.backport_not_fixed_yet(shape.detail or shape.kind,
                                                            worktree.path),
                      worktree=item.worktree)
    if worktree.stage_tracked():
        sha = worktree.commit(item.message)
    elif worktree.head() != item.onto_sha:
        sha = worktree.head()  # the user committed it themselves
    else:
        return result(Outcome.KEPT, messages.backport_nothing_changed(worktree.path),
                      worktree=item.worktree)
    worktree.remove()
    return result(Outcome.CREATED, messages.backport_continued(), sha=sha)

