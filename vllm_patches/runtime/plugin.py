"""Auto-patching for every process vLLM starts: the ``vllm.general_plugins`` entry point.

vLLM calls ``register()`` in each process it creates (API server, engine core,
workers, Ray workers), possibly several times; the opt-in ``.pth`` hook calls
it at start-up of every interpreter. ``register()`` is cheap and imports no
vLLM module: it asks ``importhook`` to run the selected patches when their
target module is imported, or at once when it already is. Applying goes
through ``runtime.apply`` (imported only then), and each outcome is appended
to the ``VLLM_PATCHES_REPORT`` file when one is set.

Environment:
  VLLM_PATCHES          ``all`` (default), ``none``, or a comma list of patch ids
                        (a value naming nothing, or all/none beside other names, selects
                        no patch and is warned about: ``read_selection``)
  VLLM_PATCHES_STRICT   ``1``: a patch that cannot be applied raises instead of warning
  VLLM_PATCHES_REPORT   a file that receives one JSON line per process when it arms
                        the hook, then one per process and patch
  VLLM_PATCHES_METRICS  ``0``: no gauges in vLLM's /metrics (``runtime.metrics``)
"""

import os
import sys
from _thread import RLock

from vllm_patches.runtime import importhook

PATCHES_ENV = "VLLM_PATCHES"

_LOCK = RLock()
_ARMED_BY: list[str] = []


class _Forks:
    """What forked children inherit (one per process: the class itself, never made)."""

    ids: list[str] = []
    version = ""
    watching = False


_SAID = {"not_needed": False}  # lines said once per process (a forked child inherits them)


_KEYWORDS = ("all", "none")
_WARNED: list[str] = []  # the bad VLLM_PATCHES value this process warned about


def selection() -> tuple[str, ...] | None:
    """The patch ids that ``VLLM_PATCHES`` selects: None for all, () for none."""
    return read_selection()[0]


def read_selection(raw: str | None = None) -> tuple[tuple[str, ...] | None, str | None]:
    """``(selection, problem)`` of a ``VLLM_PATCHES`` value (this environment's when None).

    The value is a comma list; spaces around a name and empty names are ignored. Unset,
    empty, or ``all`` alone (``all,`` too): every patch (None). ``none`` alone: no patch
    (``()``). Patch ids: those. A value that names nothing (``,``) or puts ``all`` or
    ``none`` beside other names (``all,none``, ``all,some-id``) is bad: no patch, and
    ``problem`` is the sentence that the plugin and ``status`` warn with.
    """
    raw = os.environ.get(PATCHES_ENV, "") if raw is None else raw
    if not raw.strip():
        return None, None
    names = [part.strip() for part in raw.split(",") if part.strip()]
    names = list(dict.fromkeys(n.lower() if n.lower() in _KEYWORDS else n for n in names))
    if names == ["all"]:
        return None, None
    if names == ["none"]:
        return (), None
    if names and not set(names) & set(_KEYWORDS):
        return tuple(names), None
    from vllm_patches.runtime import messages  # only for a bad value

    return (), messages.bad_selection(raw, mixed=bool(names))


def register(via: str = "plugin") -> None:
    """Patch the selected target modules when they are imported (at once if they are).

    Idempotent: the first call arms the hooks (and writes the process's one
    *armed* line to ``VLLM_PATCHES_REPORT`` when that is set), later ones only
    note ``via``.
    """
    selected, problem = read_selection()
    if problem is not None:
        _warn_once(problem)
    if selected == ():
        return
    with _LOCK:
        first = not _ARMED_BY
        if via not in _ARMED_BY:
            _ARMED_BY.append(via)
        if first:
            _report_armed(via, selected)
            # The catalogue is read when vLLM is imported (now, in a vLLM process), never
            # at interpreter start: the .pth hook costs one dictionary lookup per import.
            importhook.when_imported("vllm", _arm_targets)


def _warn_once(problem: str) -> None:
    """Say once per process, in vLLM's log, why ``VLLM_PATCHES`` selects no patch."""
    with _LOCK:
        if problem in _WARNED:
            return
        _WARNED.append(problem)
    import logging

    _show_log_lines()
    logging.getLogger("vllm_patches").warning("%s", problem)


def watch() -> None:
    """Watch the target modules of the patches ``VLLM_PATCHES`` selects now (patch the ones
    already imported at once). ``register()`` does this when vLLM is imported; ``verify``
    calls it again in a process that runs several checks, one selection after another."""
    importhook.when_imported("vllm", _arm_targets)


def target_modules() -> tuple[str, ...]:
    """The modules that the selected patches target: the ones the hook watches."""
    from vllm_patches.core.catalog_files import target_modules as scan

    return scan(selection())


def _arm_targets(_vllm) -> None:
    """Watch each target module of the selected patches (at once if it is imported)."""
    _tell_metrics("armed")
    try:
        names = target_modules()
    except KeyboardInterrupt:
        raise
    except BaseException:  # never take vLLM's import down
        return
    for name in names:
        importhook.when_imported(name, _on_import)


def _report_armed(via: str, selected: tuple[str, ...] | None) -> None:
    """The report's proof that the plugin loaded here, before any target is imported.

    Only touches the report (and imports the small ``reportline``) when
    ``VLLM_PATCHES_REPORT`` is set; never raises.
    """
    if not os.environ.get("VLLM_PATCHES_REPORT", "").strip():
        return
    try:
        from vllm_patches.runtime import reportline
        reportline.write(reportline.armed_line(via, selected))
    except KeyboardInterrupt:
        raise
    except BaseException:
        pass


def _tell_metrics(event: str, *args) -> None:
    """``runtime.metrics.<event>(*args)``: the gauges in vLLM's /metrics; never raises."""
    try:
        from vllm_patches.runtime import metrics
        getattr(metrics, event)(*args)
    except KeyboardInterrupt:
        raise
    except BaseException:
        pass


def armed_by() -> tuple[str, ...]:
    """Who armed auto-patching in this process: ``plugin``, ``pth``, or nobody."""
    return tuple(_ARMED_BY)


def _on_import(module) -> None:
    """Apply the selected patches whose targets are now all imported; never raise
    unless strict mode asks for it."""
    from vllm_patches.core.words import Outcome
    from vllm_patches.runtime import messages, report
    from vllm_patches.runtime import patcher as runtime
    name = getattr(module, "__name__", "?")
    strict = runtime.strict_from_env()
    try:
        _show_log_lines()
        ids = _due(name, strict)
        if not ids:
            return
        _say_not_needed(strict)
        outcomes = runtime.apply(ids, strict=strict, named=selection() or ())
    except runtime.PatchError as exc:
        report.record(exc.outcomes, runtime.vllm_version_text(), armed_by())
        _tell_metrics("record", exc.outcomes)
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a patch never ends a vLLM process
        if strict:
            raise
        runtime.logger.warning("%s", messages.autopatch_failed(name, exc))
        return
    version = runtime.vllm_version_text()
    report.record(outcomes, version, armed_by())
    _tell_metrics("record", outcomes)
    in_place = (Outcome.APPLIED, Outcome.ALREADY_APPLIED)
    _report_forks([o.id for o in outcomes if o.outcome in in_place], version)


def _report_forks(ids: list[str], version: str) -> None:
    """Let each forked child record the patches it inherits.

    A worker that vLLM forks after the parent was patched runs the patched
    classes, but loads no plugin (vLLM's once-per-process guard is inherited
    too), so without this it would be missing from the report.
    """
    if not ids or not hasattr(os, "register_at_fork"):
        return
    with _LOCK:
        _Forks.ids = [*_Forks.ids, *(i for i in ids if i not in _Forks.ids)]
        _Forks.version = version
        if not _Forks.watching:
            _Forks.watching = True
            os.register_at_fork(after_in_child=_record_inherited)


def _record_inherited() -> None:
    # Runs in the child right after fork: no locks (another thread may have held one).
    try:
        from vllm_patches.core.words import Outcome
        from vllm_patches.runtime import messages, report
        from vllm_patches.runtime.patcher import Result

        ppid = os.getppid()
        report.record([Result(i, Outcome.INHERITED, messages.inherited_patch(i, ppid))
                       for i in _Forks.ids], _Forks.version, armed_by())
    except KeyboardInterrupt:
        raise
    except BaseException:
        pass


def _due(module_name: str, strict: bool) -> list[str]:
    """Selected patches that target ``module_name`` and whose targets are all imported."""
    from vllm_patches.core.catalog import runtime_catalog
    from vllm_patches.runtime import messages
    from vllm_patches.runtime import patcher as runtime

    patches, broken = runtime_catalog(strict)  # a bad entry: warned about there, and left out
    wanted = selection()
    if wanted is not None:
        known = sorted(p.id for p in patches)
        unknown = [i for i in wanted if i not in known and i not in broken]
        if unknown:
            text = messages.unknown_ids_in_env(unknown, known)
            if strict:
                raise runtime.PatchError(text)
            runtime.logger.warning("%s", text)
    return [
        p.id for p in patches
        if (wanted is None or p.id in wanted)
        and any(t.module == module_name for t in p.targets)
        and all(_loaded(t.module, module_name) for t in p.targets)
    ]


def _say_not_needed(strict: bool) -> None:
    """Once per process, one INFO line: the patches of the default selection (every patch)
    that this vLLM's release has upstream. Each is still judged on the code that runs when
    its module is imported; only an id the user named in VLLM_PATCHES is warned about."""
    with _LOCK:
        if selection() is not None or _SAID["not_needed"]:
            return
        _SAID["not_needed"] = True
    from vllm_patches.core.catalog import runtime_catalog
    from vllm_patches.core.detect import find_vllm
    from vllm_patches.runtime import messages
    from vllm_patches.runtime import patcher as runtime

    install = find_vllm()
    version = install.version if install is not None else None
    if version is None:
        return
    fixed = [p.id for p in runtime_catalog(strict)[0] if p.fixed_in(version)]
    if fixed:
        runtime.logger.info("%s", messages.not_needed_here(os.getpid(), fixed, version))


def _loaded(module: str, just_imported: str) -> bool:
    """True when ``module`` is imported and its code has run. A target module still
    mid-import (it imports the module just imported, partway through) is not: the patch is
    due when it finishes, through its own hook. The module just imported has run."""
    from vllm_patches.runtime.importhook import _initializing

    found = sys.modules.get(module)
    return found is not None and (module == just_imported or not _initializing(found))


def _show_log_lines() -> None:
    """Print this package's INFO lines on stderr when nobody configured logging.

    vLLM configures only its own ``vllm`` logger, so without this the one line
    per applied patch would be lost in every vLLM process.
    """
    import logging

    logger = logging.getLogger("vllm_patches")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(
        "%(levelname)s %(asctime)s [vllm_patches] %(message)s", "%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.propagate = False
