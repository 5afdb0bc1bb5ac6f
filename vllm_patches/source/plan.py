"""Source mode: write catalogued fixes into a vLLM tree's own files, and take them out.

The public verbs, for the CLI and for other features (``backport`` works on
a fork checkout through them). ``tree`` is a ``VllmInstall`` or the path of
a folder that holds ``vllm/``; ``patches`` a sequence of catalogue
``Patch``es, or None for the default selection::

    apply(tree, patches=None, *, force=False, dry_run=False) -> Report
        Write each patch into the files under the tree. None: every patch
        whose state is ``applicable``. ``force`` writes a patch over
        methods that a fork changed. All files of all patches of one call
        change together or not at all, with the record of what was written
        (``record.py``) in the same transaction (``transaction.py``).
        ``dry_run`` writes nothing and puts the unified diff in
        ``Report.diff``.
    revert(tree, patches=None, *, force=False, dry_run=False) -> Report
        Give the original bytes back, checked against the record. None:
        every patch applied in source there. ``force`` takes the fix's
        blocks out of files that changed since, or drops a stale record.
        ``dry_run`` writes nothing and says what would be reverted.
    revert_recorded(tree, *, dry_run=False) -> Report
        ``revert`` of every patch the tree's record names, and only those
        (a fix in the files without a record, such as a fork's committed
        backport, stays: ``unrecorded_fixes`` names them). With nothing left
        to record, the state folder ``.vllm-patches/`` goes.
    diff(tree, patches=None, *, force=False, mail=False) -> Report
        ``apply(..., dry_run=True)``; with ``mail``, ``Report.diff`` is one
        mail per patch, for ``git am``.

Each ``Result`` says, in one sentence, what happened to one patch.
Bad input (a path that leads out of the tree, a read-only file, a corrupt
record, a module that is not text in the encoding it declares or is a
folder, an interrupted write pending during a dry run) raises
``SourceError`` (or ``RecordError``/``TransactionError``/``SourceTextError``)
before anything is written. Module files are read and written through
``sourcefile``: the encoding they declare (PEP 263), their BOM and their line
endings are kept byte for byte.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Sequence

from vllm_patches.source import messages

from vllm_patches.core import messages as core_messages

from vllm_patches.core import pathguard

from vllm_patches.source import transaction
from vllm_patches._version import __version__
from vllm_patches.core import chains
from vllm_patches.core.catalog import CatalogError, Patch, Target, get_patch, load_catalog
from vllm_patches.core.detect import VllmInstall, find_vllm
from vllm_patches.source.diffs import unified_diff
from vllm_patches.source.edit import EditError, has_block, patch_text, unpatch_text
from vllm_patches.core.sourcefile import SourceText, SourceTextError, diff_view, read_source
from vllm_patches.source.record import (Entry, FileRecord, Record, load, now, record_path, sha256_of,
                     state_dir)
from vllm_patches.core.state import (APPLICABLE, APPLIED, FIXED_UPSTREAM, PATCHED, TARGET_MODIFIED, classify,
                    patch_status)
from vllm_patches.core.errors import VllmPatchesError
from vllm_patches.core.words import Outcome



class SourceError(VllmPatchesError):
    """The tree cannot be worked on; nothing was written."""


@dataclass(frozen=True)
class Result:
    """What one ``apply``, ``revert`` or ``diff`` call did (or would do) to one patch."""

    id: str
    outcome: Outcome  # BLOCKED: not named, but needed and held back by a fork's change
    message: str
    files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """False when a fix that this tree needs is not in place after the call."""
        return self.outcome not in (Outcome.REFUSED, Outcome.BLOCKED)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "outcome": str(self.outcome), "files": list(self.files),
                "message": self.message}


@dataclass
class Report:
    install: VllmInstall
    results: list[Result]
    diff: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, object]:
        return {"vllm": self.install.to_dict(), "results": [r.to_dict() for r in self.results],
                "diff": self.diff}


# The public verbs ------------------------------------------------------------
def apply(tree: VllmInstall | Path | str, patches: Sequence[Patch] | None = None, *,
          force: bool = False, dry_run: bool = False) -> Report:
    """Write ``patches`` into the tree's files (see the module's docstring)."""
    install = _install_of(tree)
    if dry_run:
        plan = _dry_plan(install, patches, force)
        return Report(install, plan.results, plan.diff())
    return _write(install, lambda rec: _plan_apply(install, patches, force, rec))


def revert(tree: VllmInstall | Path | str, patches: Sequence[Patch] | None = None, *,
           force: bool = False, dry_run: bool = False) -> Report:
    """Give the original bytes back (see the module's docstring)."""
    install = _install_of(tree)
    return _revert(install, lambda rec: _plan_revert(install, patches, force, rec,
                                                     dry_run=dry_run), dry_run)


def revert_recorded(tree: VllmInstall | Path | str, *, dry_run: bool = False) -> Report:
    """Revert every patch the record names, newest first (see the module's docstring)."""
    install = _install_of(tree)
    return _revert(install, lambda rec: _plan_revert(install, None, False, rec,
                                                     recorded_only=True, dry_run=dry_run),
                   dry_run)


def unrecorded_fixes(tree: VllmInstall | Path | str) -> list[str]:
    """The ids of the catalogued patches whose marked blocks are in the tree's files
    without a record of vllm-patches writing them (a backport commit, a lost record)."""
    install = _install_of(tree)
    recorded = load(install.location)
    files = _Tree(install.location)
    return [p.id for p in load_catalog() if recorded.get(p.id) is None and _holds_fix(files, p)]


def _revert(install: VllmInstall, make_plan, dry_run: bool) -> Report:
    if not dry_run:
        return _write(install, make_plan)
    if transaction.pending(_state_dir(install.location)):
        raise SourceError(messages.source_pending(install.location))
    plan = make_plan(load(install.location))
    return Report(install, plan.results, plan.diff())


def diff(tree: VllmInstall | Path | str, patches: Sequence[Patch] | None = None, *,
         force: bool = False, mail: bool = False) -> Report:
    """What ``apply`` would write, as a unified diff (or ``git am`` mails); writes nothing."""
    install = _install_of(tree)
    plan = _dry_plan(install, patches, force)
    return Report(install, plan.results, plan.mails(install) if mail else plan.diff())


def _install_of(tree: VllmInstall | Path | str) -> VllmInstall:
    return tree if isinstance(tree, VllmInstall) else find_vllm(target=tree)


def _dry_plan(install: VllmInstall, patches: Sequence[Patch] | None, force: bool) -> _Plan:
    if transaction.pending(_state_dir(install.location)):
        raise SourceError(messages.source_pending(install.location))
    return _plan_apply(install, patches, force, load(install.location), dry_run=True)


def _write(install: VllmInstall, make_plan) -> Report:
    """Plan from the files, check that they can be written, then commit under the lock."""
    root = install.location
    state = _state_dir(root)
    plan = make_plan(load(root))  # read-only: refuse bad input before anything is written
    changes = plan.changes()
    _check_writable(changes, state)
    if not changes and not transaction.pending(state) and not (
            (transaction.untidy(state) or any(r.outcome in (Outcome.REFUSED, Outcome.BLOCKED)
                                              for r in plan.results))
            and _writable(state if state.exists() else state.parent)):
        return Report(install, plan.results)
    # Changes to make, what a killed write left to tidy, or a refusal that may be another
    # process's commit read half-done (its fix in the file, its record not yet written):
    # plan again under the lock.
    try:
        with transaction.locked(state):
            transaction.recover(state, plan.folders())
            plan = make_plan(load(root))  # again, now that no other process can write
            changes = plan.changes()
            _check_writable(changes, state)
            transaction.commit(state, changes)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise SourceError(messages.source_read_only(Path(exc.filename or state))) from None
        raise SourceError(messages.write_failed(exc)) from None
    return Report(install, plan.results)


# The tree's files --------------------------------------------------------------
def _state_dir(root: Path) -> Path:
    state = state_dir(root)
    _inside(root, state)
    return state


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, refusing one that ``pathguard`` refuses (out of the tree through a
    symlink or '..', under .git, or outside vllm/ and .vllm-patches/)."""
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        raise SourceError(messages.source_escapes_tree(path, root)) from None
    try:
        return pathguard.resolve(root, rel)
    except pathguard.UnsafePath as exc:
        raise SourceError(str(exc)) from None


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def _check_writable(changes: list[transaction.Change], state: Path) -> None:
    for change in changes:
        for path in (change.path, change.path.parent):
            if path.exists() and not _writable(path):
                raise SourceError(messages.source_read_only(path))
    folder = state if state.exists() else state.parent
    if changes and not _writable(folder):
        raise SourceError(messages.source_read_only(folder))


@dataclass
class _File:
    """One file of the tree: what was read, and its text as the plan changes it."""

    path: Path  # resolved, inside the tree
    source: SourceText  # as read: the bytes, their encoding, BOM and line endings
    text: str

    @property
    def original(self) -> bytes:
        return self.source.raw

    def data(self) -> bytes:
        return self.encode(self.text)

    def encode(self, text: str) -> bytes:
        """``text`` as this file's bytes (its encoding and BOM)."""
        return self.original if text == self.source.text else self.source.encode(text)


@dataclass
class _Tree:
    root: Path
    files: dict[str, _File] = field(default_factory=dict)

    def file(self, rel: str) -> _File | None:
        """The file at ``rel`` (relative to the root), or None when it does not exist."""
        if rel not in self.files:
            path = _inside(self.root, self.root / rel)
            try:
                source = read_source(path)
            except FileNotFoundError:
                return None
            self.files[rel] = _File(path, source, source.text)
        return self.files[rel]

    def text(self, rel: str) -> str | None:
        f = self.file(rel)
        return None if f is None else f.text

    def sha(self, rel: str) -> str | None:
        f = self.file(rel)
        return None if f is None else sha256_of(f.data())

    def rewrite(self, patch: Patch, edit) -> dict[str, tuple[str, str]]:
        """Apply ``edit(target, text)`` to every target of ``patch``, all or none.

        Returns {relpath: (text before, text after)}; raises EditError.
        """
        texts: dict[str, str] = {}
        for target in patch.targets:
            rel = target.relpath
            current = texts.get(rel, self.text(rel))
            if current is None:
                raise EditError(core_messages.module_absent(target.module))
            new = edit(target, current)
            if new is not None:
                texts[rel] = new
        for rel, text in texts.items():
            try:
                self.files[rel].encode(text)
            except SourceTextError as exc:
                raise EditError(str(exc).rstrip(".")) from None
        changed = {rel: (self.files[rel].text, text) for rel, text in texts.items()}
        for rel, text in texts.items():
            self.files[rel].text = text
        return changed


def _by_file(changed: dict[str, tuple[str, str]], tree: _Tree) -> dict[str, FileRecord]:
    def sha(rel: str, text: str) -> str:
        return sha256_of(tree.files[rel].encode(text))

    return {rel: FileRecord(sha(rel, old), sha(rel, new)) for rel, (old, new) in changed.items()}


def _settle(record: Record, shas: dict[str, FileRecord]) -> Record:
    """``record`` once each file went from its ``before`` to its ``after`` bytes: the
    entries of patches written earlier into the same file name the new bytes."""
    for rel, f in shas.items():
        record = record.settled(rel, f.before, f.after)
    return record


@dataclass
class _Plan:
    """What one call will write: the results, the edited texts and the new record."""

    root: Path
    tree: _Tree
    old_record: Record
    record: Record
    results: list[Result] = field(default_factory=list)
    dry_run: bool = False  # results say what would be done
    edits: list[tuple[Patch, dict[str, tuple[str, str]]]] = field(default_factory=list)
    vllm_version: str | None = None  # the tree's, for the record's entries
    given: tuple[Patch, ...] = ()  # the patches this call was given (a folder being checked)

    def saved(self) -> tuple[dict[str, str], Record, int]:
        """What ``restore`` needs to undo what the plan did since."""
        return {rel: f.text for rel, f in self.tree.files.items()}, self.record, len(self.edits)

    def restore(self, saved: tuple[dict[str, str], Record, int]) -> None:
        texts, record, edits = saved
        for rel, f in self.tree.files.items():
            f.text = texts.get(rel, f.source.text)
        self.record = record
        del self.edits[edits:]

    def in_place(self) -> list[Patch]:
        """The recorded patches (the catalogue's, or given) whose fix is in the files."""
        known = {p.id: p for p in (*chains.known_patches(), *self.given)}
        return [known[e.patch_id] for e in self.record.entries
                if e.patch_id in known and _holds_fix(self.tree, known[e.patch_id])]

    def folders(self) -> set[Path]:
        """The folders of the files this plan read and of those its record names: where a
        killed write may have left a temporary."""
        recorded = {self.root / rel for e in self.old_record.entries for rel in e.files}
        return {path.parent for path in recorded | {f.path for f in self.tree.files.values()}}

    def changes(self) -> list[transaction.Change]:
        out = [transaction.Change(f.path, f.data())
               for f in self.tree.files.values() if f.data() != f.original]
        if self.record != self.old_record:
            path = _inside(self.root, record_path(self.root))
            if self.record.entries:
                out.append(transaction.Change(path, self.record.to_bytes()))
            elif path.exists():
                out.append(transaction.Change(path, None))
        return out

    def diff(self) -> str:
        """The unified diff of every changed file, its bytes kept (``sourcefile.diff_bytes``)."""
        return "".join(
            unified_diff(rel, diff_view(f.original), diff_view(f.data()))
            for rel, f in sorted(self.tree.files.items()) if f.data() != f.original
        )

    def mails(self, install: VllmInstall) -> str:
        from vllm_patches.source.export import file_change, mbox_message

        total = len(self.edits)
        return "".join(
            mbox_message(patch, install,
                         [file_change(install, rel, self.tree.files[rel].encode(old),
                                      self.tree.files[rel].encode(new))
                          for rel, (old, new) in edits.items()],
                         number=(i, total))
            for i, (patch, edits) in enumerate(self.edits, start=1)
        )


# Apply ------------------------------------------------------------------------
def _plan_apply(install: VllmInstall, patches: Sequence[Patch] | None, force: bool,
                rec: Record, dry_run: bool = False) -> _Plan:
    explicit = patches is not None
    plan = _Plan(install.location, _Tree(install.location), rec, rec,
                 vllm_version=install.raw_version, given=tuple(patches or ()))
    selected = list(patches) if explicit else list(load_catalog())
    known = _known_patches(selected)
    for patch in selected:
        status = patch_status(patch, install, record=rec)
        pid = patch.id
        rival = None if status.state == APPLIED else _rival_in_place(patch, known, plan)
        if rival is not None:
            plan.results.append(Result(pid, Outcome.REFUSED, messages.source_refused(pid, rival)))
        elif status.state == APPLIED:
            recorded = rec.get(pid) is not None
            plan.results.append(Result(pid, Outcome.ALREADY_APPLIED,
                                       messages.source_already_applied(pid, recorded)))
        elif status.state == APPLICABLE or (status.state == TARGET_MODIFIED and force):
            forced = status.state == TARGET_MODIFIED
            plan.results.append(_chained(plan, patch, partial(_apply_one, plan, patch, forced,
                                                              dry_run)))
        elif status.state == TARGET_MODIFIED:
            plan.results.append(
                Result(pid, Outcome.REFUSED, messages.source_refused_modified(pid, status.reason))
                if explicit else
                Result(pid, Outcome.BLOCKED, messages.source_skipped_modified(pid, status.reason)))
        elif explicit:
            ok = status.state == FIXED_UPSTREAM
            plan.results.append(Result(pid, Outcome.SKIPPED if ok else Outcome.REFUSED,
                                       (messages.source_skipped if ok else
                                        messages.source_refused)(pid, status.reason)))
    return plan


def _apply_one(plan: _Plan, patch: Patch, forced: bool, dry_run: bool) -> Result:
    pid = patch.id
    try:
        changed = _write_in(plan, patch, forced)
    except EditError as exc:
        return Result(pid, Outcome.REFUSED, messages.source_refused(pid, str(exc)))
    files = sorted(changed)
    plan.edits.append((patch, changed))
    return Result(pid, Outcome.WOULD_APPLY if dry_run else Outcome.APPLIED,
                  (messages.source_would_apply if dry_run else messages.source_applied)(pid, files),
                  tuple(files))


def _write_in(plan: _Plan, patch: Patch, forced: bool) -> dict[str, tuple[str, str]]:
    """Write ``patch``'s fix into the plan's files and record it; EditError, nothing done."""
    changed = plan.tree.rewrite(patch, lambda t, text: patch_text(patch, t, text, force=forced))
    shas = _by_file(changed, plan.tree)
    plan.record = _settle(plan.record, shas).with_entry(Entry(
        patch.id, __version__, now(), plan.vllm_version, forced, shas))
    return changed


_DONE = (Outcome.APPLIED, Outcome.WOULD_APPLY, Outcome.REVERTED, Outcome.WOULD_REVERT)


def _chained(plan: _Plan, patch: Patch, step) -> Result:
    """``step()`` (``patch`` written in or taken out), the chains it is in kept in their
    declared order (``core.chains``): the recorded fixes that belong around ``patch``'s are
    taken out first and written back after, each checked against the record as a revert
    and recorded anew. Whatever is refused leaves the plan as it was."""
    over = chains.above(patch, plan.in_place(), [*chains.known_patches(), *plan.given])
    if not over:
        return step()
    saved = plan.saved()
    before = dict(saved[0])
    for other in reversed(over):
        lifted = _revert_one(plan, other, force=False)
        if lifted.outcome not in _DONE:
            plan.restore(saved)
            return Result(patch.id, Outcome.REFUSED, messages.source_refused(
                patch.id, messages.source_cannot_lift(other.id, lifted.message)))
    result = step()
    if result.outcome not in _DONE:
        plan.restore(saved)
        return result
    try:
        for other in over:
            _write_in(plan, other, saved[1].get(other.id).forced)
    except EditError as exc:  # never expected: each went in over the same code before
        plan.restore(saved)
        return Result(patch.id, Outcome.REFUSED, messages.source_refused(patch.id, str(exc)))
    _merge_edits(plan, patch, before, saved[2])
    files = sorted({*result.files, *_changed_files(plan, before)})
    if result.outcome in (Outcome.REVERTED, Outcome.WOULD_REVERT):
        message = messages.source_reverted_under(patch.id, files, over, plan.dry_run)
    else:
        message = result.message + messages.source_rewrapped(over)
    return replace(result, message=message, files=tuple(files))


def _changed_files(plan: _Plan, before: dict[str, str]) -> list[str]:
    return [rel for rel, f in plan.tree.files.items() if f.text != before.get(rel, f.source.text)]


def _merge_edits(plan: _Plan, patch: Patch, before: dict[str, str], first: int) -> None:
    """An apply's edit, for its mail: the files from before the chain was taken apart to
    after it was put together again (a revert has no edit)."""
    if len(plan.edits) > first:
        plan.edits[first:] = [(patch, {
            rel: (before.get(rel, plan.tree.files[rel].source.text), plan.tree.files[rel].text)
            for rel in _changed_files(plan, before)})]


def _known_patches(selected: Sequence[Patch]) -> list[Patch]:
    """The selected patches and the rest of the catalogue (a rival need not be selected)."""
    try:
        others = list(load_catalog())
    except CatalogError:
        others = []
    ids = {p.id for p in selected}
    return [*selected, *(p for p in others if p.id not in ids)]


def _rival_in_place(patch: Patch, known: Sequence[Patch], plan: _Plan) -> str | None:
    """Why ``patch`` must not go in: a patch it conflicts with (undeclared overlap or
    ``excludes``) is written in this tree already or earlier in this plan; else None."""
    from vllm_patches.core.overlaps import rivals

    placed = {p.id for p, _ in plan.edits}
    for overlap in rivals(patch, known):
        other = overlap.other(patch)
        if other.id in placed or plan.record.get(other.id) is not None:
            return overlap.refusal(patch)
    return None


# Revert -----------------------------------------------------------------------
def _plan_revert(install: VllmInstall, patches: Sequence[Patch] | None, force: bool,
                 rec: Record, *, recorded_only: bool = False, dry_run: bool = False) -> _Plan:
    plan = _Plan(install.location, _Tree(install.location), rec, rec, dry_run=dry_run,
                 vllm_version=install.raw_version, given=tuple(patches or ()))
    newest_first = [e.patch_id for e in reversed(rec.entries)]
    if patches is None and recorded_only:
        ids = newest_first
    elif patches is None:
        ids = newest_first + [p.id for p in load_catalog()
                              if p.id not in newest_first and _holds_fix(plan.tree, p)]
    else:
        ids = sorted(dict.fromkeys(p.id for p in patches),
                     key=lambda i: newest_first.index(i) if i in newest_first else len(rec.entries))
    given = {p.id: p for p in patches or ()}  # revert what was given (a folder being checked)
    for pid in ids:
        try:
            patch = given[pid] if pid in given else get_patch(pid)
        except CatalogError:
            entry = rec.get(pid)
            plan.results.append(Result(pid, Outcome.REFUSED, messages.source_unknown_recorded(
                pid, entry.tool_version if entry else __version__)))
            continue
        plan.results.append(_chained(plan, patch, partial(_revert_one, plan, patch, force)))
    return plan


def _holds_fix(tree: _Tree, patch: Patch) -> bool:
    return any(has_block(patch, tree.text(t.relpath) or "") for t in patch.targets)


def _take_out(plan: _Plan, patch: Patch) -> dict[str, tuple[str, str]]:
    def edit(target: Target, text: str) -> str | None:
        if classify(patch, target, text).kind == PATCHED or has_block(patch, text):
            return unpatch_text(patch, target, text)
        return None

    return plan.tree.rewrite(patch, edit)


def _revert_one(plan: _Plan, patch: Patch, force: bool) -> Result:
    pid = patch.id
    entry = plan.record.get(pid)
    if entry is None:
        if not _holds_fix(plan.tree, patch):
            return Result(pid, Outcome.NOT_APPLIED, messages.source_not_applied(pid))
        if not force:
            return Result(pid, Outcome.REFUSED, messages.source_no_record(pid))
        return _forced_take_out(plan, patch)
    for rel in entry.files:
        later = plan.record.later_than(pid, rel)
        if later is not None:
            return Result(pid, Outcome.REFUSED,
                          messages.source_revert_later_first(pid, later.patch_id, rel))
    current = {rel: plan.tree.sha(rel) for rel in entry.files}
    if all(current[rel] == f.after for rel, f in entry.files.items()):
        try:
            changed = _take_out(plan, patch)
        except EditError as exc:
            return Result(pid, Outcome.REFUSED, messages.source_refused(pid, str(exc)))
        got = _by_file(changed, plan.tree)
        wrong = sorted(rel for rel in set(got) | set(entry.files)
                       if rel not in got or rel not in entry.files
                       or got[rel].after != entry.files[rel].before)
        if wrong:  # never expected: unpatch_text is the exact inverse of patch_text
            for rel, (old, _new) in changed.items():
                plan.tree.files[rel].text = old
            return Result(pid, Outcome.REFUSED, messages.source_revert_mismatch(pid, wrong[0]))
        plan.record = _settle(plan.record.without(pid), got)
        return _reverted(plan, pid, changed, forced=False)
    if all(current[rel] in (f.before, plan.record.original(rel))
           for rel, f in entry.files.items()):  # a reinstall: back to the bytes of the release
        plan.record = plan.record.without(pid)
        return Result(pid, Outcome.NOT_APPLIED, messages.source_record_stale(pid, plan.dry_run))
    if not force:
        changed = [rel for rel, f in entry.files.items() if current[rel] != f.after]
        return Result(pid, Outcome.REFUSED, messages.source_changed_since(pid, changed))
    return _forced_take_out(plan, patch)


def _forced_take_out(plan: _Plan, patch: Patch) -> Result:
    pid = patch.id
    try:
        changed = _take_out(plan, patch)
    except EditError as exc:
        return Result(pid, Outcome.REFUSED, messages.source_refused(pid, str(exc)))
    plan.record = _settle(plan.record.without(pid), _by_file(changed, plan.tree))
    if not changed:
        return Result(pid, Outcome.NOT_APPLIED, messages.source_record_dropped(pid, plan.dry_run))
    return _reverted(plan, pid, changed, forced=True)


def _reverted(plan: _Plan, pid: str, changed: dict[str, tuple[str, str]], forced: bool) -> Result:
    files = sorted(changed)
    if plan.dry_run:
        return Result(pid, Outcome.WOULD_REVERT, messages.source_would_revert(pid, files, forced),
                      tuple(files))
    return Result(pid, Outcome.REVERTED, messages.source_reverted(pid, files, forced), tuple(files))
