"""What state each catalogued patch is in for one vLLM tree.

``classify`` reads a target module's source with ``ast`` (never importing it)
and says which shape the code has; ``patch_status`` combines that with the
vLLM version and this process's runtime patches into one of five states.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import messages
from .catalog import Patch, Target
from .detect import VllmInstall
from .shape import class_prints, uses_attribute

if TYPE_CHECKING:
    from .record import Record

APPLICABLE = "applicable"
APPLIED = "applied"
FIXED_UPSTREAM = "fixed-upstream"
NOT_APPLICABLE = "not-applicable"
TARGET_MODIFIED = "target-modified"
STATES = (APPLICABLE, APPLIED, FIXED_UPSTREAM, NOT_APPLICABLE, TARGET_MODIFIED)

# Shapes of a target's code.
PRE_FIX = "pre-fix"
PATCHED = "patched"
FIXED = "fixed"
MODIFIED = "modified"
MISSING = "missing"
OTHER_RELEASE = "other-release"  # a release's code, just not one this patch is for


@dataclass(frozen=True)
class Shape:
    kind: str  # one of the shape constants above
    detail: str = ""  # which function differs, for MODIFIED and MISSING


def classify(patch: Patch, target: Target, source: str | None) -> Shape:
    """The shape of ``target`` in a module's source text."""
    where = f"{target.module}.{target.class_name}"
    if source is None:
        return Shape(MISSING, messages.module_absent(target.module))
    try:
        prints = class_prints(source, target.class_name)
    except SyntaxError as exc:
        return Shape(MODIFIED, messages.module_unparsable(target.module, exc))
    if not prints.class_found:
        return Shape(MISSING, messages.class_absent(where))
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
            wrap.fixed_if_uses and uses_attribute(prints.nodes[wrap.name], wrap.fixed_if_uses)
        ):
            return Shape(FIXED)
    for wrap in target.wraps:
        current = methods.get(wrap.name)
        if current is None:
            return Shape(MISSING, messages.method_absent(f"{where}.{wrap.name}"))
        if current not in wrap.pre_fix:
            if current in _release_shapes(target, wrap.name):
                return Shape(OTHER_RELEASE, messages.other_release_code(f"{where}.{wrap.name}"))
            return Shape(MODIFIED, messages.method_changed(f"{where}.{wrap.name}"))
    return Shape(PRE_FIX)


def _release_shapes(target: Target, method: str) -> frozenset[str]:
    """Every fingerprint the catalogue knows for one method, from any patch: the
    shapes of vLLM releases, as opposed to a fork's own change."""
    from .catalog import load_catalog

    return frozenset(
        fp
        for patch in load_catalog()
        for other in patch.targets
        if (other.module, other.class_name) == (target.module, target.class_name)
        for wrap in other.wraps
        if wrap.name == method
        for fp in wrap.pre_fix | wrap.fixed_upstream
    )


def classify_install(patch: Patch, install: VllmInstall) -> Shape:
    """The combined shape of every target of ``patch`` in one vLLM tree."""
    shapes = [classify(patch, t, install.read_module(t.module)) for t in patch.targets]
    for kind in (MISSING, MODIFIED, FIXED, OTHER_RELEASE):
        for shape in shapes:
            if shape.kind == kind:
                return shape
    if all(s.kind == PATCHED for s in shapes):
        return Shape(PATCHED)
    if any(s.kind == PATCHED for s in shapes):
        return Shape(MODIFIED, messages.partly_patched(patch.id))
    return Shape(PRE_FIX)


def _holds_own_block(patch: Patch, install: VllmInstall) -> bool:
    """True when a target file holds this patch's marked block.

    Patches that share one fix for different vLLM ranges have the same patched
    shape; outside its range, a patch counts as applied only by its own block.
    """
    from .edit import has_block  # edit builds on this module

    return any(has_block(patch, install.read_module(t.module) or "") for t in patch.targets)


@dataclass(frozen=True)
class PatchStatus:
    patch: Patch
    state: str
    reason: str
    next_step: str
    mode: str | None = None  # "runtime" or "source" when applied

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.patch.id,
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
    record: Record | None = None,
) -> PatchStatus:
    """The state of one patch for one vLLM tree (None: no vLLM installed).

    With the tree's ``record`` of source-mode applies, a file that changed
    since vllm-patches wrote it (a pip reinstall, an edit) is reported too.
    """
    status = _patch_status(patch, install, runtime_applied)
    entry = record.get(patch.id) if record is not None and install is not None else None
    if entry is None:
        return status
    changed = entry.changed_files(install.location)
    if not changed:
        return status
    return _with_drift(status, entry, changed)


def _with_drift(status: PatchStatus, entry, changed: list[str]) -> PatchStatus:
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


def _patch_status(
    patch: Patch, install: VllmInstall | None, runtime_applied: bool = False
) -> PatchStatus:
    if install is None:
        return PatchStatus(patch, NOT_APPLICABLE, messages.no_vllm(), messages.next_nothing())
    version = install.version
    shape = classify_install(patch, install)

    if shape.kind == PATCHED and (
        (version is not None and patch.affects(version)) or _holds_own_block(patch, install)
    ):
        return PatchStatus(patch, APPLIED, messages.applied_in_source(install.location),
                           messages.next_revert(patch.id), mode="source")
    if runtime_applied and shape.kind == PRE_FIX:
        return PatchStatus(patch, APPLIED, messages.applied_at_runtime(),
                           messages.next_nothing(), mode="runtime")
    if version is not None and not patch.affects(version):
        if shape.kind == PRE_FIX:
            return PatchStatus(patch, APPLICABLE,
                               messages.pre_fix_outside_range(version, patch.affected_text),
                               messages.next_apply(patch.id))
        if patch.fixed_in(version) or shape.kind == FIXED:
            return PatchStatus(patch, FIXED_UPSTREAM,
                               messages.fixed_upstream(version, patch.applied_upstream),
                               messages.next_drop(patch.id))
        return PatchStatus(patch, NOT_APPLICABLE,
                           messages.outside_range(version, patch.affected_text),
                           messages.next_nothing())
    if shape.kind == PRE_FIX:
        return PatchStatus(patch, APPLICABLE, messages.pre_fix_found(version),
                           messages.next_apply(patch.id))
    if shape.kind == FIXED:
        return PatchStatus(patch, FIXED_UPSTREAM, messages.fixed_shape_found(),
                           messages.next_drop(patch.id))
    if shape.kind in (MISSING, OTHER_RELEASE):
        return PatchStatus(patch, NOT_APPLICABLE, shape.detail, messages.next_nothing())
    return PatchStatus(patch, TARGET_MODIFIED, shape.detail, messages.next_modified(patch.id))
