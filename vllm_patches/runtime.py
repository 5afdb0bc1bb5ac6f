"""Runtime mode: put a catalogued fix into vLLM's classes in this process.

``apply`` imports each target module (if it is not imported yet), checks that
the methods to wrap still have a known pre-fix shape, and installs the fix's
methods, bound to the target module's globals. ``revert`` puts the original
functions back. Both are idempotent and thread-safe, and neither raises for a
patch that cannot be applied unless ``strict`` is set: a failing patch must
never take a vLLM process down.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import os
import textwrap
import threading
import types
from dataclasses import dataclass, field

from . import messages
from .catalog import CatalogError, Patch, Target, select
from .detect import DetectError, find_vllm
from .shape import fingerprint
from .state import FIXED, PATCHED, classify

logger = logging.getLogger("vllm_patches")

MARK = "__vllm_patches__"
STRICT_ENV = "VLLM_PATCHES_STRICT"
_MISSING = object()
_LOCK = threading.RLock()

# Outcomes of apply() and revert().
APPLIED = "applied"
ALREADY_APPLIED = "already-applied"
IN_SOURCE = "applied-in-source"
SKIPPED = "skipped"
REFUSED = "refused"
FAILED = "failed"
REVERTED = "reverted"
NOT_APPLIED = "not-applied"


class PatchError(RuntimeError):
    """A patch could not be applied and strict mode asked for an exception.

    ``outcomes`` holds the outcomes of this ``apply`` call up to the failing one.
    """

    def __init__(self, message: str, outcomes=()) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)


@dataclass(frozen=True)
class Outcome:
    id: str
    outcome: str
    message: str
    mode: str = "runtime"
    obsolete: bool = False  # skipped because the installed vLLM has the fix upstream

    @property
    def ok(self) -> bool:
        return self.outcome not in (REFUSED, FAILED)

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "outcome": self.outcome, "mode": self.mode, "message": self.message}


@dataclass
class _Installed:
    """What one applied patch changed, so that revert can undo exactly that."""

    cls: type
    previous: dict[str, object] = field(default_factory=dict)


_APPLIED: dict[str, list[_Installed]] = {}


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_applied(patch_id: str) -> bool:
    """True when this process runs ``patch_id`` as a runtime patch."""
    return patch_id in _APPLIED


def apply(ids=None, *, force: bool = False, strict: bool | None = None) -> list[Outcome]:
    """Apply catalogued patches (all when ``ids`` is empty) in this process."""
    strict = strict_from_env() if strict is None else strict
    outcomes = []
    with _LOCK:
        for patch in _select(ids, strict):
            outcome = _apply_one(patch, force)
            _log(outcome, patch)
            outcomes.append(outcome)
            if strict and not outcome.ok:
                raise PatchError(outcome.message, outcomes)
    return outcomes


def revert(ids=None) -> list[Outcome]:
    """Put back the original functions of runtime-applied patches."""
    outcomes = []
    with _LOCK:
        for patch in _select(ids, strict=True):
            installed = _APPLIED.pop(patch.id, None)
            if installed is None:
                outcomes.append(Outcome(patch.id, NOT_APPLIED, messages.not_applied_here(patch.id)))
                continue
            for record in reversed(installed):
                _restore(record)
            outcomes.append(Outcome(patch.id, REVERTED, messages.reverted_here(patch.id)))
    return outcomes


def _select(ids, strict: bool) -> tuple[Patch, ...]:
    """The catalogued patches named by ``ids`` (all when empty). Not strict: a bad catalogue
    entry or an unknown id costs only itself, with a warning; strict: CatalogError."""
    from .catalog import runtime_catalog

    try:
        patches, broken = runtime_catalog(strict)
    except CatalogError as exc:
        if strict:
            raise
        logger.warning("%s %s", messages.catalog_failed_at_runtime(), exc)
        return ()
    if not ids:
        return patches
    by_id = {p.id: p for p in patches}
    wanted = [ids] if isinstance(ids, str) else list(dict.fromkeys(ids))
    for unknown in (i for i in wanted if i not in by_id and i not in broken):
        text = messages.unknown_patch(unknown, sorted(by_id))
        if strict:
            raise CatalogError(text)
        logger.warning("%s", text)
    return tuple(by_id[i] for i in wanted if i in by_id)


def _apply_one(patch: Patch, force: bool) -> Outcome:
    if patch.id in _APPLIED:
        return Outcome(patch.id, ALREADY_APPLIED, messages.already_applied_here(patch.id))
    try:
        gate = _version_gate(patch)
        if gate is not None:
            return gate
        plans = [_plan(patch, target, force) for target in patch.targets]
    except _Stop as stop:
        return stop.outcome
    except Exception as exc:  # a broken vLLM must not break the host process
        return Outcome(patch.id, FAILED, messages.apply_failed(patch.id, exc))
    if all(plan is None for plan in plans):
        return Outcome(patch.id, IN_SOURCE, messages.found_in_source(patch.id), mode="source")
    installed: list[_Installed] = []
    try:
        for plan in plans:
            if plan is not None:
                installed.append(_install(plan))
    except Exception as exc:
        for record in reversed(installed):
            _restore(record)
        return Outcome(patch.id, FAILED, messages.apply_failed(patch.id, exc))
    _APPLIED[patch.id] = installed
    return Outcome(patch.id, APPLIED, messages.applied_now(patch.id, vllm_version_text()))


class _Stop(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def vllm_version_text() -> str:
    """The installed vLLM's version for log lines, or ``unknown``."""
    try:
        install = find_vllm()
    except DetectError:
        return "unknown"
    if install is None or install.version is None:
        return "unknown"
    return str(install.version)


def _version_gate(patch: Patch) -> Outcome | None:
    """SKIPPED when the installed vLLM's version is outside the patch's range."""
    install = find_vllm()
    if install is None or install.version is None or patch.affects(install.version):
        return None
    if patch.fixed_in(install.version):
        return Outcome(patch.id, SKIPPED,
                       messages.fixed_upstream(install.version, patch.applied_upstream),
                       obsolete=True)
    return Outcome(patch.id, SKIPPED, messages.outside_range(install.version, patch.affected_text))


@dataclass
class _Plan:
    patch: Patch
    target: Target
    module: types.ModuleType
    cls: type


def _plan(patch: Patch, target: Target, force: bool) -> _Plan | None:
    """Import the target and check its code; None when the fix is already in the file."""
    module = importlib.import_module(target.module)
    cls = getattr(module, target.class_name, None)
    if not isinstance(cls, type):
        raise _Stop(Outcome(patch.id, REFUSED,
                            messages.class_absent(f"{target.module}.{target.class_name}")))
    source_file = getattr(module, "__file__", None)
    if source_file:
        try:
            with open(source_file, encoding="utf-8") as fh:
                shape = classify(patch, target, fh.read())
        except OSError:
            shape = None
        if shape is not None and shape.kind == PATCHED:
            return None
        if shape is not None and shape.kind == FIXED:
            raise _Stop(Outcome(patch.id, SKIPPED, messages.fixed_shape_found(), obsolete=True))
    for wrap in target.wraps:
        func = cls.__dict__.get(wrap.name)
        where = f"{target.module}.{target.class_name}.{wrap.name}"
        if func is None:
            raise _Stop(Outcome(patch.id, REFUSED, messages.method_absent(where)))
        if not force and _runtime_fingerprint(func) not in wrap.pre_fix:
            raise _Stop(Outcome(patch.id, REFUSED, messages.refuse_modified(patch.id, where)))
    return _Plan(patch, target, module, cls)


def _runtime_fingerprint(func: object) -> str | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))  # type: ignore[arg-type]
        node = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    return fingerprint(node)


def fix_functions(patch: Patch, target: Target, module_globals: dict) -> dict[str, types.FunctionType]:
    """The fix's methods for ``target``, bound to the target module's globals."""
    namespace: dict[str, object] = {"__name__": f"vllm_patches.fix.{patch.id}"}
    exec(compile(patch.fix_source, str(patch.fix_path), "exec"), namespace)
    fix_class = namespace[target.class_name]
    functions = {}
    for name in target.method_names:
        original = fix_class.__dict__[name]  # type: ignore[index]
        bound = types.FunctionType(
            original.__code__, module_globals, name, original.__defaults__, original.__closure__
        )
        bound.__qualname__ = f"{target.class_name}.{name}"
        bound.__module__ = target.module
        bound.__doc__ = original.__doc__
        setattr(bound, MARK, patch.id)
        functions[name] = bound
    return functions


def _install(plan: _Plan) -> _Installed:
    target, cls = plan.target, plan.cls
    functions = fix_functions(plan.patch, target, plan.module.__dict__)
    record = _Installed(cls)
    names = [w.original_name for w in target.wraps] + list(target.method_names)
    for name in names:
        record.previous[name] = cls.__dict__.get(name, _MISSING)
    try:
        for wrap in target.wraps:
            original = cls.__dict__[wrap.name]
            functions[wrap.name].__wrapped__ = original  # type: ignore[attr-defined]
            setattr(cls, wrap.original_name, original)
        for name, func in functions.items():
            setattr(cls, name, func)
    except Exception:
        _restore(record)
        raise
    return record


def _restore(record: _Installed) -> None:
    for name, previous in record.previous.items():
        if previous is _MISSING:
            if name in record.cls.__dict__:
                delattr(record.cls, name)
        else:
            setattr(record.cls, name, previous)


def _log(outcome: Outcome, patch: Patch) -> None:
    if outcome.outcome == APPLIED:
        logger.info("%s", messages.log_applied(os.getpid(), outcome.id, outcome.mode,
                                               vllm_version_text()))
    elif outcome.obsolete:
        logger.warning("%s", messages.log_obsolete(os.getpid(), outcome.id, vllm_version_text(),
                                                   patch.applied_upstream))
    elif outcome.outcome in (REFUSED, FAILED):
        logger.warning("%s", outcome.message)
    else:
        logger.debug("%s", outcome.message)


def is_marked(func: object) -> bool:
    return getattr(func, MARK, None) is not None
