"""Runtime mode: put a catalogued fix into vLLM's classes in this process.

``apply`` imports each target module (if it is not imported yet), checks that
the methods to wrap still have a known pre-fix shape, and installs the fix's
methods, bound to the target module's globals. ``revert`` puts the original
functions back. Both are idempotent and thread-safe, and neither raises for a
patch that cannot be applied unless ``strict`` is set: a failing patch must
never take a vLLM process down. Where a patch's code runs (its ``fix.py`` is
executed, its target imported) anything it raises but ``KeyboardInterrupt`` is
a ``failed`` outcome, ``SystemExit`` included.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import logging
import os
import sys
import textwrap
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

from vllm_patches.runtime import messages

from vllm_patches.core import chains
from vllm_patches.core import messages as core_messages
from vllm_patches.core.catalog import CatalogError, Patch, Target, dotted
from vllm_patches.core.detect import DetectError, find_vllm
from vllm_patches.core.importfile import FileKind, ModuleSource, kind_of_file, read_module_file
from vllm_patches.core.shape import MethodPrints, fingerprint
from vllm_patches.core.sourcefile import SourceTextError
from vllm_patches.core.words import Mode, Outcome
from vllm_patches.core.state import (APPLICABLE, APPLIED as STATE_APPLIED, FIXED_UPSTREAM, MISSING, PATCHED,
                    NO_MODULE, TARGET_MODIFIED, PatchStatus, Shape, classify_module,
                    classify_prints, combine, evidence_of, judge)

logger = logging.getLogger("vllm_patches")

MARK = "__vllm_patches__"
STRICT_ENV = "VLLM_PATCHES_STRICT"
_MISSING = object()
_LOCK = threading.RLock()



class PatchError(RuntimeError):
    """A patch could not be applied and strict mode asked for an exception.

    ``outcomes`` holds the outcomes of this ``apply`` call up to the failing one.
    """

    def __init__(self, message: str, outcomes=()) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)


@dataclass(frozen=True)
class Result:
    """What one ``apply`` or ``revert`` call did to one patch in this process."""

    id: str
    outcome: Outcome
    message: str
    mode: Mode = Mode.RUNTIME
    obsolete: bool = False  # skipped because the installed vLLM has the fix upstream

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.REFUSED, Outcome.FAILED)

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "outcome": str(self.outcome), "mode": str(self.mode),
                "message": self.message}


@dataclass
class _Installed:
    """What one applied patch changed, so that revert can undo exactly that."""

    cls: object  # the class, or the module for module-level functions
    target: Target
    previous: dict[str, object] = field(default_factory=dict)
    copies: list[tuple[object, str, object]] = field(default_factory=list)  # module, name, original
    fixes: dict[str, object] = field(default_factory=dict)  # what it put under each name

    def live(self) -> bool:
        """True while the class that runs is the one patched and still holds the fix
        (an ``importlib.reload`` of the module makes a new, unpatched class)."""
        return _live_class(self.target) is self.cls and all(
            is_marked(self.cls.__dict__.get(name)) for name in self.target.method_names)


_APPLIED: dict[str, list[_Installed]] = {}
_APPLIED_PATCHES: dict[str, Patch] = {}  # the Patch of each id in _APPLIED, for rivals


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_applied(patch_id: str) -> bool:
    """True when this process runs ``patch_id`` as a runtime patch (on the classes that
    run now, not ones a reload replaced)."""
    with _LOCK:
        installed = _APPLIED.get(patch_id)
        return installed is not None and all(record.live() for record in installed)


def apply(ids=None, *, force: bool = False, strict: bool | None = None,
          named=None) -> list[Result]:
    """Apply catalogued patches (all when ``ids`` is empty) in this process.

    ``named``: the ids the user chose by name (default: ``ids``); an obsolete one of those
    is a WARNING, any other obsolete patch only a DEBUG line (a default of every patch
    is no choice to be warned about)."""
    strict = strict_from_env() if strict is None else strict
    if named is None:
        named = [ids] if isinstance(ids, str) else list(ids or ())
    with _LOCK:
        return apply_patches(_select(ids, strict), force=force, strict=strict, named=named)


def apply_patches(patches, *, force: bool = False, strict: bool | None = None,
                  named=()) -> list[Result]:
    """``apply`` for ``Patch`` objects already loaded (``catalog check`` loads a catalogue
    folder itself): the same outcomes, logging and strict mode."""
    strict = strict_from_env() if strict is None else strict
    outcomes = []
    with _LOCK:
        patches = list(patches)
        known = [*patches, *(p for i, p in _APPLIED_PATCHES.items()
                             if i not in {q.id for q in patches})]
        for patch in patches:
            outcome = _apply_one(patch, force, known)
            _log(outcome, patch, named)
            outcomes.append(outcome)
            if strict and not outcome.ok:
                raise PatchError(outcome.message, outcomes)
    return outcomes


def revert(ids=None) -> list[Result]:
    """Put back the original functions of runtime-applied patches."""
    with _LOCK:
        return revert_patches(_select(ids, strict=True))


def revert_patches(patches) -> list[Result]:
    """``revert`` for ``Patch`` objects already loaded."""
    outcomes = []
    with _LOCK:
        for patch in patches:
            installed = _APPLIED.pop(patch.id, None)
            _APPLIED_PATCHES.pop(patch.id, None)
            if installed is None:
                outcomes.append(Result(patch.id, Outcome.NOT_APPLIED,
                                       messages.not_applied_here(patch.id)))
                continue
            with _lifted(patch):
                for record in reversed(installed):
                    _restore(record)
            outcomes.append(Result(patch.id, Outcome.REVERTED, messages.reverted_here(patch.id)))
    return outcomes


@dataclass(frozen=True)
class TakenOut:
    """What ``take_out`` found: revert's outcome, and the functions that do not hold again
    what they held before the patch went in, or that still carry its fix."""

    outcome: Result
    left: list[str]

    @property
    def clean(self) -> bool:
        """The patch was in, and nothing of it is left."""
        return self.outcome.outcome == Outcome.REVERTED and not self.left


def take_out(patch: Patch) -> TakenOut:
    """Revert ``patch`` in this process and prove it came out (``TakenOut.clean``)."""
    with _LOCK:
        records = list(_APPLIED.get(patch.id, ()))
        held = [(r.target.qualname(name), r.cls, name, before)
                for r in records for name, before in r.previous.items()]
        held += [(dotted(module.__name__, attr), module, attr, original)
                 for r in records for module, attr, original in r.copies]
        [outcome] = revert_patches([patch])
        left = [label for label, scope, name, before in held
                if scope.__dict__.get(name, _MISSING) is not before]
        for target in patch.targets:
            scope = _live_class(target)
            left += [target.qualname(name) for name in target.method_names
                     if scope is not None and mark_of(scope.__dict__.get(name)) == patch.id]
    return TakenOut(outcome, list(dict.fromkeys(left)))


def _select(ids, strict: bool) -> tuple[Patch, ...]:
    """The catalogued patches named by ``ids`` (all when empty). Not strict: a bad catalogue
    entry or an unknown id costs only itself, with a warning; strict: CatalogError."""
    from vllm_patches.core.catalog import runtime_catalog

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
        text = core_messages.unknown_patch(unknown, sorted(by_id))
        if strict:
            raise CatalogError(text)
        logger.warning("%s", text)
    return tuple(by_id[i] for i in wanted if i in by_id)


def _apply_one(patch: Patch, force: bool, known=()) -> Result:
    _forget_reloaded(patch.id)
    refused = _rival_refusal(patch, known)
    if refused is not None:
        return refused
    try:
        verdict, plans = examine(patch)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a broken vLLM must not break the host process
        return Result(patch.id, Outcome.FAILED, messages.apply_failed(patch.id, exc))
    settled = _settled(patch, verdict, plans, force)
    if settled is not None:
        return settled
    return _install_patch(patch, plans)


def _forget_reloaded(patch_id: str) -> None:
    """Drop the records of a patch whose module was reloaded: its new classes (or, for a
    module, its new functions) are unpatched, and the patch may go in again."""
    if patch_id not in _APPLIED or is_applied(patch_id):
        return
    for record in _APPLIED.pop(patch_id):
        _hand_over_copies(record)
    _APPLIED_PATCHES.pop(patch_id, None)


def _rival_refusal(patch: Patch, known) -> Result | None:
    """The refusal of ``patch`` when a patch it conflicts with runs here already."""
    if is_applied(patch.id):
        return None
    rival = _rival_applied(patch, known)
    if rival is None:
        return None
    return Result(patch.id, Outcome.REFUSED, messages.refuse_rival(patch.id, rival))


def _settled(patch: Patch, verdict: PatchStatus, plans: list[_Plan],
             force: bool) -> Result | None:
    """The outcome when the verdict leaves nothing to install (already in, fixed
    upstream, a fork's change not forced, nothing to patch); None when it goes in."""
    state = verdict.state
    if state == STATE_APPLIED and verdict.mode == Mode.SOURCE:
        return Result(patch.id, Outcome.IN_SOURCE, messages.found_in_source(patch.id),
                      mode=Mode.SOURCE)
    if state == STATE_APPLIED:
        return Result(patch.id, Outcome.ALREADY_APPLIED, messages.already_applied_here(patch.id))
    if state == FIXED_UPSTREAM:
        return Result(patch.id, Outcome.SKIPPED, verdict.reason, obsolete=True)
    if state == TARGET_MODIFIED and not (force and all(p.forceable for p in plans)):
        return Result(patch.id, Outcome.REFUSED,
                      messages.refuse_modified(patch.id, verdict.reason))
    if state not in (APPLICABLE, TARGET_MODIFIED):
        return Result(patch.id, Outcome.SKIPPED, verdict.reason)
    return None


def _install_patch(patch: Patch, plans: list[_Plan]) -> Result:
    """Install every plan of ``patch`` (all or none) and record it as applied."""
    try:
        with _lifted(patch):
            installed = _install_all(plans)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the fix's code runs here: a sys.exit() in fix.py too
        return Result(patch.id, Outcome.FAILED, messages.apply_failed(patch.id, exc))
    _APPLIED[patch.id] = installed
    _APPLIED_PATCHES[patch.id] = patch
    return Result(patch.id, Outcome.APPLIED, messages.applied_now(patch.id, vllm_version_text()))


def _install_all(plans: list[_Plan]) -> list[_Installed]:
    """Install each plan; when one fails, the ones before it are taken out again."""
    installed: list[_Installed] = []
    try:
        for plan in plans:
            installed.append(_install(plan))
    except BaseException:
        for record in reversed(installed):
            _restore(record)
        raise
    return installed


@contextlib.contextmanager
def _lifted(patch: Patch):
    """Around putting ``patch`` in or taking it out: the runtime patches whose fixes belong
    over its own in a chain (``core.chains``) taken off first and put back on after, so
    that every chain stays in its declared order."""
    present = [_APPLIED_PATCHES[i] for i in list(_APPLIED) if i in _APPLIED_PATCHES
               and is_applied(i)]
    over = chains.above(patch, present)
    for other in reversed(over):
        for record in reversed(_APPLIED[other.id]):
            _restore(record)
    try:
        yield
    finally:
        for other in over:
            _put_back(other)


def _put_back(patch: Patch) -> None:
    """Install ``patch`` again on the classes its records name (it was taken off to let
    a fix under it in or out)."""
    try:
        installed = _install_all([_Plan(patch, r.target, sys.modules[r.target.module], r.cls)
                                  for r in _APPLIED[patch.id]])
    except Exception as exc:  # it went in before: never expected, but it must not spread
        del _APPLIED[patch.id]
        _APPLIED_PATCHES.pop(patch.id, None)
        logger.warning("%s", messages.apply_failed(patch.id, exc))
        return
    _APPLIED[patch.id] = installed


def _rival_applied(patch: Patch, known) -> str | None:
    """Why ``patch`` must not go in: a patch it conflicts with (an undeclared overlap or
    ``excludes``) runs in this process already; else None."""
    from vllm_patches.core.overlaps import rivals

    for overlap in rivals(patch, known):
        if is_applied(overlap.other(patch).id):
            return overlap.refusal(patch)
    return None


def vllm_version_text() -> str:
    """The installed vLLM's version for log lines, or ``unknown``."""
    try:
        install = find_vllm()
    except DetectError:
        return "unknown"
    if install is None or install.version is None:
        return "unknown"
    return str(install.version)


@dataclass
class _Plan:
    patch: Patch
    target: Target
    module: types.ModuleType
    cls: type

    @property
    def forceable(self) -> bool:
        """True when ``force`` may wrap this class: every method to wrap is there, and no
        trace of a fix is."""
        names = self.cls.__dict__
        return all(w.name in names and w.original_name not in names for w in self.target.wraps)


def examine(patch: Patch) -> tuple[PatchStatus, list[_Plan]]:
    """The verdict about ``patch`` for the code that runs in this process (its target
    modules imported if they are not yet), and what applying it would change."""
    install = find_vllm()
    version = install.version if install is not None else None
    shapes, plans, marks, texts = [], [], set(), []
    for target in patch.targets:
        try:
            module = importlib.import_module(target.module)
        except ModuleNotFoundError as exc:
            if not _names_module(exc, target.module):
                raise  # the module is there but one of its imports is not: a failure
            shapes.append(Shape(NO_MODULE, core_messages.module_absent(target.module)))
            continue
        cls = _live_class(target)
        if not isinstance(cls, (type, types.ModuleType)):
            shapes.append(Shape(MISSING, core_messages.class_absent(target.scope)))
            continue
        found = loaded_source(module)
        names = _names_of(patch, target) - set(stale_leftovers(patch, target, cls))
        shapes.append(classify_module(patch, target, found) if found.without_source
                      else classify_prints(patch, target, live_prints(cls, names)))
        marks |= {mark_of(cls.__dict__.get(n)) for n in names}
        texts.append(found.text or "")
        plans.append(_Plan(patch, target, module, cls))
    marks.discard(None)
    marks -= chains.partners(patch)  # their fixes are read through (chains.seen_by)
    evidence = evidence_of(patch, combine(patch, shapes), texts, marks)
    where = install.location if install is not None else "this process"
    return judge(patch, evidence, version, where), plans


def _names_module(exc: ModuleNotFoundError, module: str) -> bool:
    """True when the module that could not be found is ``module`` or a package of it."""
    return bool(exc.name) and (module == exc.name or module.startswith(exc.name + "."))


def _live_class(target: Target) -> object:
    """The class that runs now (or the module itself, for module-level functions)."""
    module = sys.modules.get(target.module)
    if module is None or target.class_name is None:
        return module
    return getattr(module, target.class_name, None)


def stale_leftovers(patch: Patch, target: Target, scope: object) -> list[str]:
    """The names of ours that ``importlib.reload`` left in a module: a reload runs the
    module's code again in the same globals, so vLLM's functions are fresh but the
    originals a wrap kept (and the fix's own functions) linger. They are stale when each
    wrapped name holds a function of the module's own code, none of ours, and each of
    ours is a fix's function or an earlier run of a wrapped function's own ``def``; else
    (an interrupted or hand-edited apply, a source patch, a fork's change) they are
    part of a fix, and the verdict says so."""
    if target.class_name is not None:
        return []  # a reload makes a new class: nothing of ours is left in it
    held = scope.__dict__
    ours = sorted(n for n in _names_of(patch, target) - {w.name for w in target.wraps}
                  if n in held)
    fresh = [held.get(w.name) for w in target.wraps]
    if ours and all(_made_here(f, held) for f in fresh) and all(
            is_marked(held[n]) or _earlier_run(held[n], fresh) for n in ours):
        return ours
    return []


def _made_here(func: object, module_globals: dict) -> bool:
    """True when ``func`` is a plain function of the module's own code (not a fix's)."""
    return (isinstance(func, types.FunctionType) and not is_marked(func)
            and func.__globals__ is module_globals)


def _earlier_run(func: object, fresh: list) -> bool:
    """True when ``func`` was made by the ``def`` of one of ``fresh`` before (the same
    file and name, another function object); a source patch's renamed original has a
    ``def`` of its own name."""
    code = getattr(func, "__code__", None)
    return code is not None and all(func is not f for f in fresh) and any(
        (code.co_filename, code.co_name) == (f.__code__.co_filename, f.__code__.co_name)
        for f in fresh)


def _names_of(patch: Patch, target: Target) -> set[str]:
    """The names of ``target``'s scope that ``patch``'s verdict reads: its functions, the
    originals they keep, and the names of the chains they are in."""
    return {*target.method_names, *(w.original_name for w in target.wraps),
            *chains.layer_names(patch, target)}


def live_prints(cls: type, names: set[str]) -> MethodPrints:
    """Fingerprints of the methods ``names`` of a class object, read from the code each
    function was compiled from (never through ``__wrapped__``)."""
    methods, nodes = {}, {}
    for name in names:
        node = _function_node(cls.__dict__.get(name))
        if node is not None:
            methods[name], nodes[name] = fingerprint(node), node
    return MethodPrints(True, methods, nodes)


def _function_node(func: object) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    code = getattr(function_of(func), "__code__", None)
    if code is None:
        return None
    try:
        source = textwrap.dedent(inspect.getsource(code))
        node = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def loaded_source(module: types.ModuleType) -> ModuleSource:
    """The file an imported module was loaded from (``importfile``: its source text, or
    what Python ran instead of source). A module without a file of its own (built in, made
    in memory, from a zip) counts as source: ``inspect`` reads what it can of it."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    name = getattr(module, "__name__", "?")
    if not origin or not getattr(spec, "has_location", True):
        return ModuleSource(name, FileKind.SOURCE)
    path = Path(origin)
    try:
        return read_module_file(name, kind_of_file(path), path)
    except (OSError, SourceTextError):
        return ModuleSource(name, FileKind.SOURCE)


def fix_functions(patch: Patch, target: Target, module_globals: dict,
                  layered: frozenset[str] = frozenset()) -> dict[str, object]:
    """The fix's functions for ``target`` (plain functions, or the classmethod, staticmethod
    or property around them), bound to the target module's globals and marked as ours;
    those of ``layered`` call the fix under them in a chain (``chains.layered_source``)."""
    namespace: dict[str, object] = {"__name__": f"vllm_patches.fix.{patch.id}"}
    source = chains.layered_source(patch, layered) if layered else patch.fix_source
    exec(compile(source, str(patch.fix_path), "exec"), namespace)
    scope = namespace if target.class_name is None else namespace[target.class_name].__dict__
    return {
        name: _rebound(scope[name], module_globals, target.module,
                       dotted(target.class_name, name), patch.id)
        for name in target.method_names
    }


def _rebound(obj: object, module_globals: dict, module: str, qualname: str, patch_id: str):
    """``obj`` of the fix, its function(s) re-made over the target module's globals."""
    def function(func):
        if func is None:
            return None
        bound = types.FunctionType(func.__code__, module_globals, func.__name__,
                                   func.__defaults__, func.__closure__)
        bound.__kwdefaults__ = func.__kwdefaults__
        bound.__qualname__, bound.__module__, bound.__doc__ = qualname, module, func.__doc__
        bound.__annotations__ = dict(getattr(func, "__annotations__", {}))
        setattr(bound, MARK, patch_id)
        return bound

    if isinstance(obj, (classmethod, staticmethod)):
        return type(obj)(function(obj.__func__))
    if isinstance(obj, property):
        return property(function(obj.fget), function(obj.fset), function(obj.fdel), obj.__doc__)
    return function(obj)


def function_of(obj: object) -> object:
    """The function inside a class attribute: a classmethod's or staticmethod's, a
    property's getter, or the attribute itself."""
    if isinstance(obj, (classmethod, staticmethod)):
        return obj.__func__
    if isinstance(obj, property):
        return obj.fget
    return obj


def _install(plan: _Plan) -> _Installed:
    target, scope = plan.target, plan.cls
    below = chains.partners(plan.patch)  # a fix of theirs in place: ours goes around it
    layered = frozenset(w.name for w in target.wraps
                        if mark_of(scope.__dict__.get(w.name)) in below)
    functions = fix_functions(plan.patch, target, plan.module.__dict__, layered)
    for name in stale_leftovers(plan.patch, target, scope):
        delattr(scope, name)  # a reload's: the fresh function is wrapped, as in a new module
    record = _Installed(scope, target, fixes=dict(functions))
    keeps = {w.name: chains.under_name(plan.patch.id, w.name) if w.name in layered
             else w.original_name for w in target.wraps}  # where what it wraps goes
    for name in [*keeps.values(), *target.method_names]:
        record.previous[name] = scope.__dict__.get(name, _MISSING)
    try:
        for wrap in target.wraps:
            original = scope.__dict__[wrap.name]
            function_of(functions[wrap.name]).__wrapped__ = function_of(original)
            setattr(scope, keeps[wrap.name], original)
        for name, func in functions.items():
            setattr(scope, name, func)
        if target.class_name is None:
            _rebind_copies(plan.module, record, functions)
    except BaseException:
        _restore(record)
        raise
    return record


def _rebind_copies(module: types.ModuleType, record: _Installed, functions: dict) -> None:
    """Rebind the copies of a patched module-level function that other imported vLLM
    modules took with ``from module import name`` before the patch went in (modules
    imported later read the patched name)."""
    for wrap in record.target.wraps:
        original = record.previous[wrap.name]
        for other, attr in _copies_of(original, module):
            record.copies.append((other, attr, original))
            setattr(other, attr, functions[wrap.name])


def _copies_of(value: object, module: object) -> list[tuple[types.ModuleType, str]]:
    """(vLLM module, name) of each place other than ``module`` that holds ``value``."""
    found = []
    for other_name, other in list(sys.modules.items()):
        if other is module or other is None or not (
                other_name == "vllm" or other_name.startswith("vllm.")):
            continue
        found += [(other, attr) for attr, held in list(getattr(other, "__dict__", {}).items())
                  if held is value]
    return found


def _hand_over_copies(record: _Installed) -> None:
    """The module of ``record`` was reloaded: modules that took the fix with ``from module
    import name`` still hold it, and it calls the original that applying again replaces.
    Give them the module's fresh function instead, as if they imported it after the
    reload: applying again rebinds them to the fix, and a revert leaves vLLM's own."""
    if record.target.class_name is not None:
        return  # a class's methods are not copied into other modules
    for wrap in record.target.wraps:
        fix, fresh = record.fixes.get(wrap.name), record.cls.__dict__.get(wrap.name)
        if fix is None or fresh is None or fresh is fix:
            continue
        for other, attr in _copies_of(fix, record.cls):
            setattr(other, attr, fresh)
    record.copies.clear()


def _restore(record: _Installed) -> None:
    for module, attr, original in reversed(record.copies):
        setattr(module, attr, original)
    record.copies.clear()
    if record.target.class_name is None:
        _unbind_later_copies(record)
    for name, previous in record.previous.items():
        if previous is _MISSING:
            if name in record.cls.__dict__:
                delattr(record.cls, name)
        else:
            setattr(record.cls, name, previous)


def _unbind_later_copies(record: _Installed) -> None:
    """Modules imported while the patch was in took the fix with ``from module import
    name``: give them the original back too, so that revert leaves no fix behind."""
    for wrap in record.target.wraps:
        fix, original = record.cls.__dict__.get(wrap.name), record.previous.get(wrap.name)
        if fix is None or original is None or original is _MISSING or fix is original:
            continue
        for other, attr in _copies_of(fix, record.cls):
            setattr(other, attr, original)


_WARNED_OBSOLETE: set[str] = set()  # ids this process warned about as obsolete


def _log(result: Result, patch: Patch, named=()) -> None:
    if result.outcome == Outcome.APPLIED:
        logger.info("%s", messages.log_applied(os.getpid(), result.id, result.mode,
                                               vllm_version_text()))
    elif result.obsolete and result.id in named and result.id not in _WARNED_OBSOLETE:
        _WARNED_OBSOLETE.add(result.id)  # one warning per process, however often judged
        logger.warning("%s", messages.log_obsolete(os.getpid(), result.id, vllm_version_text(),
                                                   patch.applied_upstream))
    elif result.obsolete:
        logger.debug("%s", result.message)
    elif result.outcome in (Outcome.REFUSED, Outcome.FAILED):
        logger.warning("%s", result.message)
    else:
        logger.debug("%s", result.message)


def mark_of(obj: object) -> str | None:
    """The id of the patch whose fix ``obj`` is (a function or a class attribute), or None."""
    return getattr(function_of(obj), MARK, None)


def is_marked(func: object) -> bool:
    return mark_of(func) is not None
