"""The one verdict about a catalogued patch: what state it is in, wherever the code lives.

``classify`` reads a target module's source with ``ast`` (never importing it)
and says which shape the code has; the runtime reads the same fingerprints
from the class objects that run in its process (``classify_prints``). A module
that Python runs without its source (bytecode only, an extension module, or an
unchecked ``.pyc`` of other source: ``importfile``) has no shape to read
(``NO_SOURCE``), whichever mode looks. Either way the result is an
``Evidence``, and ``judge`` turns evidence and the vLLM version into one of
five states: shape first, version second. Every mode
(status, runtime apply, the plugin, source apply/revert/diff, export and
backport) asks ``judge``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from enum import Enum
from typing import Protocol

from packaging.version import Version

from vllm_patches.core import messages
from vllm_patches.core.catalog import Patch, Target
from vllm_patches.core.chains import seen_by
from vllm_patches.core.detect import VllmInstall
from vllm_patches.core.importfile import ModuleSource
from vllm_patches.core.markers import block_ids, has_block
from vllm_patches.core.shape import MethodPrints
from vllm_patches.core.shape_cache import scope_prints
from vllm_patches.core.words import Mode, Word


class AppliedFiles(Protocol):
    """What source mode recorded writing for one patch (``source.record.Entry``)."""

    applied_at: str

    def changed_files(self, root: Path) -> list[str]:
        """The recorded files that no longer hold what was written, under ``root``."""


class AppliedRecord(Protocol):
    """A tree's record of source-mode applies (``source.record.Record``)."""

    def get(self, patch_id: str) -> AppliedFiles | None:
        """What was written for ``patch_id``, or None."""


class State(Word):
    """The verdict about one patch for one vLLM tree (or this process)."""

    APPLICABLE = "applicable"
    APPLIED = "applied"
    FIXED_UPSTREAM = "fixed-upstream"
    NOT_APPLICABLE = "not-applicable"
    TARGET_MODIFIED = "target-modified"


class ShapeKind(Word):
    """What the code of a patch's targets looks like."""

    PRE_FIX = "pre-fix"
    PATCHED = "patched"
    FIXED = "fixed"
    MODIFIED = "modified"
    MISSING = "missing"  # the module is there, the class or function is not
    NO_MODULE = "no-module"  # the target's module file is not there at all
    NO_SOURCE = "no-source"  # Python runs the module's code without its source: unreadable
    OTHER_RELEASE = "other-release"  # a release's code, just not one this patch is for


APPLICABLE = State.APPLICABLE
APPLIED = State.APPLIED
FIXED_UPSTREAM = State.FIXED_UPSTREAM
NOT_APPLICABLE = State.NOT_APPLICABLE
TARGET_MODIFIED = State.TARGET_MODIFIED
STATES = tuple(State)

PRE_FIX = ShapeKind.PRE_FIX
PATCHED = ShapeKind.PATCHED
FIXED = ShapeKind.FIXED
MODIFIED = ShapeKind.MODIFIED
MISSING = ShapeKind.MISSING
NO_MODULE = ShapeKind.NO_MODULE
NO_SOURCE = ShapeKind.NO_SOURCE
OTHER_RELEASE = ShapeKind.OTHER_RELEASE


@dataclass(frozen=True)
class Shape:
    kind: ShapeKind
    detail: str = ""  # which function differs, for MODIFIED and MISSING


def classify(patch: Patch, target: Target, source: str | None) -> Shape:
    """The shape of ``target`` in a module's source text (its live, last definition)."""
    if source is None:
        return Shape(NO_MODULE, messages.module_absent(target.module))
    try:
        prints = scope_prints(source, target.class_name)
    except SyntaxError as exc:
        return Shape(MODIFIED, messages.module_unparsable(target.module, exc))
    return classify_prints(patch, target, prints)


def classify_module(patch: Patch, target: Target, found: ModuleSource) -> Shape:
    """The shape of ``target`` in its module as Python imports it (``VllmInstall.module_source``,
    or the file the runtime's module was loaded from)."""
    if found.without_source:
        return Shape(NO_SOURCE, messages.module_without_source(target.module, found.kind,
                                                               found.path))
    return classify(patch, target, found.text)


def classify_prints(patch: Patch, target: Target, prints: MethodPrints) -> Shape:
    """The shape of ``target`` from the fingerprints of its class's methods, wherever they
    were read: a module's text, or the class object that runs in this process."""
    where = target.scope
    if not prints.class_found:
        return Shape(MISSING, messages.class_absent(where))
    prints = seen_by(patch, target, prints)  # the fixes it composes with, read through
    methods = prints.methods
    fix = patch.fix_prints(target)

    ours = [n for n in target.method_names if methods.get(n) == fix[n]]
    originals = [w for w in target.wraps if w.original_name in methods]
    if len(ours) == len(target.method_names) and len(originals) == len(target.wraps):
        return Shape(PATCHED)
    if ours or any(w.original_name in methods for w in target.wraps):
        return Shape(MODIFIED, messages.partly_patched(where))

    for wrap in target.wraps:
        current = methods.get(wrap.name)
        if current is None:
            continue
        if current in wrap.fixed_upstream or (
            wrap.fixed_if_uses and prints.uses(wrap.name, wrap.fixed_if_uses)
        ):
            return Shape(FIXED)
    for wrap in target.wraps:
        current = methods.get(wrap.name)
        if current is None:
            return Shape(MISSING, messages.method_absent(target.qualname(wrap.name), wrap.kind))
        if current not in wrap.pre_fix:
            if current in _release_shapes(target, wrap.name):
                return Shape(OTHER_RELEASE, messages.other_release_code(target.qualname(wrap.name)))
            return Shape(MODIFIED, messages.method_changed(target.qualname(wrap.name)))
    return Shape(PRE_FIX)


def _release_shapes(target: Target, method: str) -> frozenset[str]:
    """Every fingerprint the catalogue knows for one method, from any patch: the
    shapes of vLLM releases, as opposed to a fork's own change."""
    from vllm_patches.core.catalog import load_catalog_report

    return frozenset(
        fp
        for patch in load_catalog_report()[0]  # a bad entry elsewhere must not stop this one
        for other in patch.targets
        if (other.module, other.class_name) == (target.module, target.class_name)
        for wrap in other.wraps
        if wrap.name == method
        for fp in wrap.pre_fix | wrap.fixed_upstream
    )


def combine(patch: Patch, shapes: list[Shape]) -> Shape:
    """The shape of a patch from the shapes of each of its targets."""
    for kind in (NO_SOURCE, NO_MODULE, MISSING, MODIFIED, FIXED, OTHER_RELEASE):
        for shape in shapes:
            if shape.kind == kind:
                return shape
    if all(s.kind == PATCHED for s in shapes):
        return Shape(PATCHED)
    if any(s.kind == PATCHED for s in shapes):
        return Shape(MODIFIED, messages.partly_patched(patch.id))
    return Shape(PRE_FIX)


def classify_install(patch: Patch, install: VllmInstall) -> Shape:
    """The combined shape of every target of ``patch`` in one vLLM tree."""
    return combine(patch, [classify_module(patch, t, install.module_source(t.module))
                           for t in patch.targets])


@dataclass(frozen=True)
class Evidence:
    """What one place where code lives says about a patch: the shape of its targets,
    whether the fix in place is this patch's own (its marked block in a file, its mark
    on a function at run time), and whether this process applied it at run time."""

    shape: Shape
    own: bool = False
    runtime: bool = False
    other: str | None = None  # the id of another patch whose fix is in the target instead


def file_evidence(patch: Patch, install: VllmInstall) -> Evidence:
    """The evidence of a tree's files (an install, a --target folder, a release, a branch)."""
    found = [install.module_source(t.module) for t in patch.targets]
    shape = combine(patch, [classify_module(patch, t, f) for t, f in zip(patch.targets, found)])
    return evidence_of(patch, shape, [f.text for f in found])


def evidence_of(patch: Patch, shape: Shape, texts: list[str | None],
                marks: frozenset[str] | set[str] = frozenset()) -> Evidence:
    """The evidence of the targets' ``shape``, and whose fix is in place: at run time the
    patch ids ``marks`` on the functions that run, else the marked blocks in the texts of
    the target modules' files."""
    if marks:
        own, others = patch.id in marks, sorted(set(marks) - {patch.id})
    else:
        own = shape.kind == PATCHED and any(has_block(patch, text or "") for text in texts)
        others = sorted({i for text in texts for i in block_ids(text or "")} - {patch.id})
    other = others[0] if shape.kind == PATCHED and not own and others else None
    return Evidence(shape, own=own, runtime=bool(marks), other=other)


@dataclass(frozen=True)
class PatchStatus:
    patch: Patch
    state: State
    reason: str
    next_step: str
    mode: Mode | None = None  # RUNTIME or SOURCE when applied

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.patch.id,
            "catalog": str(self.patch.folder.parent),
            "state": self.state,
            "mode": self.mode,
            "affected": self.patch.affected_text,
            "upstream": self.patch.upstream_pr,
            "origin": self.patch.origin,
            "applied_upstream": (
                str(self.patch.applied_upstream) if self.patch.applied_upstream else None
            ),
            "reason": self.reason,
            "next": self.next_step,
        }


def patch_status(
    patch: Patch,
    install: VllmInstall | None,
    runtime_applied: bool = False,
    record: AppliedRecord | None = None,
) -> PatchStatus:
    """The state of one patch for one vLLM tree's files (None: no vLLM installed).

    ``runtime_applied``: this process runs the patch at run time (its files keep the
    pre-fix code). With the tree's ``record`` of source-mode applies, a file that
    changed since vllm-patches wrote it (a pip reinstall, an edit) is reported too.
    """
    if install is None:
        return PatchStatus(patch, NOT_APPLICABLE, messages.no_vllm(), messages.next_nothing())
    evidence = file_evidence(patch, install)
    if runtime_applied and evidence.shape.kind == PRE_FIX:
        evidence = replace(evidence, runtime=True)
    status = judge(patch, evidence, install.version, install.location)
    entry = record.get(patch.id) if record is not None else None
    if entry is None:
        return status
    changed = entry.changed_files(install.location)
    if not changed:
        return status
    return _with_drift(status, entry, changed)


def _with_drift(status: PatchStatus, entry: AppliedFiles, changed: list[str]) -> PatchStatus:
    """``status`` of a patch whose recorded files no longer hold what vllm-patches wrote."""
    pid = status.patch.id
    if status.state == APPLIED:
        return replace(status, reason=messages.drift_still_applied(changed, entry.applied_at),
                       next_step=messages.next_review_drift(pid))
    if status.state == TARGET_MODIFIED:
        return replace(status, reason=messages.drift_changed(pid, changed, entry.applied_at),
                       next_step=messages.next_drop_record(pid))
    reason = f"{status.reason}; {messages.drift_stale_record(changed, entry.applied_at)}"
    if status.state == APPLICABLE:
        return replace(status, reason=reason, next_step=messages.next_apply_again(pid))
    return replace(status, reason=reason, next_step=messages.next_drop_record(pid))


def judge(patch: Patch, evidence: Evidence, version: Version | None,
          location: object = "this process") -> PatchStatus:
    """The one verdict about a patch, for every mode (status, runtime, plugin, source
    apply/revert/diff, export, backport).

    The code's shape decides first: pre-fix code is ``applicable`` whatever the version
    says (a fork that bumped its version without the fix still crashes), the fix in place
    is ``applied``, upstream's fix is ``fixed-upstream``, no module file is
    ``not-applicable`` (no buggy code to fix). The version only decides what to expect and
    what to say: inside the affected range, a module without the class or function, or
    with changed code, is a fork's change (``target-modified``); outside it, code that is
    not the pre-fix shape is not this patch's business.
    """
    shape = evidence.shape
    in_range = version is not None and patch.affects(version)
    if shape.kind == NO_SOURCE:
        # Python runs code whose source is not there to read: whatever the version says,
        # it may be the pre-fix code. Only this process's own mark on the class proves more.
        if evidence.runtime and evidence.own:
            return PatchStatus(patch, APPLIED, messages.applied_at_runtime(),
                               messages.next_nothing(), mode=Mode.RUNTIME)
        return PatchStatus(patch, TARGET_MODIFIED, shape.detail,
                           messages.next_no_source(patch.id))
    if shape.kind == PATCHED and evidence.other and not evidence.own and in_range:
        # Another patch's fix sits where this one's must go: not this fix, not green.
        return PatchStatus(patch, TARGET_MODIFIED, messages.wrapped_by_other(evidence.other),
                           messages.next_modified(patch.id))
    if shape.kind == PATCHED and (evidence.own or in_range):
        if evidence.runtime:
            return PatchStatus(patch, APPLIED, messages.applied_at_runtime(),
                               messages.next_nothing(), mode=Mode.RUNTIME)
        return PatchStatus(patch, APPLIED, messages.applied_in_source(location),
                           messages.next_revert(patch.id), mode=Mode.SOURCE)
    if shape.kind == PRE_FIX:
        if evidence.runtime:
            return PatchStatus(patch, APPLIED, messages.applied_at_runtime(),
                               messages.next_nothing(), mode=Mode.RUNTIME)
        reason = (messages.pre_fix_outside_range(version, patch.affected_text)
                  if version is not None and not in_range else messages.pre_fix_found(version))
        return PatchStatus(patch, APPLICABLE, reason, messages.next_apply(patch.id))
    if shape.kind == FIXED:
        reason = (messages.fixed_upstream(version, patch.applied_upstream)
                  if version is not None and patch.fixed_in(version)
                  else messages.fixed_shape_found())
        return PatchStatus(patch, FIXED_UPSTREAM, reason, messages.next_drop(patch.id))
    if shape.kind == OTHER_RELEASE:  # a release this patch is not for, whatever the label
        reason = (messages.outside_range(version, patch.affected_text)
                  if version is not None and not in_range else shape.detail)
        return PatchStatus(patch, NOT_APPLICABLE, reason, messages.next_nothing())
    if shape.kind == NO_MODULE and not (version is not None and patch.fixed_in(version)):
        # No file, no buggy code: a release before the module, or a build that leaves
        # unused model files out. (A module that is there without the class or function
        # the fix wraps is a fork's change: see below.)
        return PatchStatus(patch, NOT_APPLICABLE, shape.detail, messages.next_nothing())
    if in_range:  # missing or changed where this patch's pre-fix code is due
        return PatchStatus(patch, TARGET_MODIFIED, _in_range_detail(shape, version, patch),
                           messages.next_modified(patch.id))
    if version is not None and patch.fixed_in(version):
        return PatchStatus(patch, FIXED_UPSTREAM,
                           messages.fixed_upstream(version, patch.applied_upstream),
                           messages.next_drop(patch.id))
    if version is not None:
        return PatchStatus(patch, NOT_APPLICABLE,
                           messages.outside_range(version, patch.affected_text),
                           messages.next_nothing())
    if shape.kind == MODIFIED:
        return PatchStatus(patch, TARGET_MODIFIED, shape.detail, messages.next_modified(patch.id))
    if shape.kind == PATCHED:
        return PatchStatus(patch, NOT_APPLICABLE, _fix_of_another_patch(patch),
                           messages.next_nothing())
    return PatchStatus(patch, NOT_APPLICABLE, shape.detail, messages.next_nothing())


def _in_range_detail(shape: Shape, version: Version | None, patch: Patch) -> str:
    detail = shape.detail or str(shape.kind)
    return (f"{version} is in the affected range {patch.affected_text}, but {detail} "
            "(a fork changed, moved or removed it)")


def _fix_of_another_patch(patch: Patch) -> str:
    return (f"the code holds the same fix through another patch that shares it "
            f"(not {patch.id}'s own block)")
